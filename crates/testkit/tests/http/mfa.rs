use auterity_testkit::{Backend, TestServer, user_password};
use serde_json::json;

use super::assert_problem;

fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = alphabet.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

fn code_now(secret: &[u8], offset_steps: i64) -> String {
    let now = chrono::Utc::now().timestamp() + offset_steps * 30;
    auterity_auth::totp::code_at(secret, now as u64)
}

pub async fn totp_enrolment_login_and_recovery_codes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    server.create_user(&admin, "mia@example.test", "mia", json!([])).await;
    let session = server.login("mia@example.test", user_password()).await;
    let token = session["access_token"].as_str().unwrap();

    let (status, enrol) = server.call("POST", "/api/auth/mfa/totp/enroll", Some(token), None).await;
    assert_eq!(status, 200, "{enrol}");
    assert!(enrol["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/"));
    let secret = base32_decode(enrol["secret"].as_str().unwrap());
    let (status, body) =
        server.call("POST", "/api/auth/mfa/totp/verify", Some(token), Some(json!({"code": "000000"}))).await;
    assert_problem(status, &body, 422);
    let (status, codes) = server
        .call("POST", "/api/auth/mfa/totp/verify", Some(token), Some(json!({"code": code_now(&secret, 0)})))
        .await;
    assert_eq!(status, 200, "{codes}");
    let codes: Vec<String> =
        codes["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10);

    // Password alone is no longer enough.
    let (status, body) = server
        .call("POST", "/api/auth/login", None, Some(json!({"email": "mia@example.test", "password": user_password()})))
        .await;
    assert_problem(status, &body, 401);
    assert_eq!(body["code"], "mfa_required");
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "mia@example.test", "password": user_password(), "totp": "123456"})),
        )
        .await;
    assert_eq!(status, 401);
    // The next step's code: the enrolment used this step's, and a step is never accepted twice.
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "mia@example.test", "password": user_password(), "totp": code_now(&secret, 1)})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "mia@example.test", "password": user_password(), "totp": code_now(&secret, 1)})),
        )
        .await;
    assert_eq!(status, 401, "a TOTP code is not accepted twice");
    // A recovery code works once.
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "mia@example.test", "password": user_password(), "totp": codes[0]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "mia@example.test", "password": user_password(), "totp": codes[0]})),
        )
        .await;
    assert_eq!(status, 401);
    // The session from before enrolment ended when MFA was turned on.
    let (status, _) = server.call("GET", "/api/auth/me", Some(token), None).await;
    assert_eq!(status, 401);
    let (_, me) = server.call("GET", "/api/auth/me", body["access_token"].as_str(), None).await;
    assert_eq!(me["mfa_enabled"], true);
    server.finish().await;
}

pub async fn mfa_can_be_mandatory_per_role(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.auth.mfa_required_roles = vec!["member".into()]).await;
    let root = server.admin_token().await;
    let (status, _) = server
        .call("POST", "/api/auth/users", Some(&root), Some(json!({"email": "boss@example.test", "username": "boss", "password": user_password(), "systems": [{"system": "relaycore", "level": "read"}]})))
        .await;
    assert_eq!(status, 201);
    let session = server.login("boss@example.test", user_password()).await;
    assert_eq!(session["mfa_enrollment_required"], true);
    let token = session["access_token"].as_str().unwrap();
    // Until enrolled, nothing but self-service is open.
    let (status, body) = server.call("GET", "/api/ai/providers", Some(token), None).await;
    assert_problem(status, &body, 403);
    let (status, _) = server.call("GET", "/api/auth/me", Some(token), None).await;
    assert_eq!(status, 200);
    let (_, enrol) = server.call("POST", "/api/auth/mfa/totp/enroll", Some(token), None).await;
    let secret = base32_decode(enrol["secret"].as_str().unwrap());
    let (status, _) = server
        .call("POST", "/api/auth/mfa/totp/verify", Some(token), Some(json!({"code": code_now(&secret, 0)})))
        .await;
    assert_eq!(status, 200);
    let (status, full) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "boss@example.test", "password": user_password(), "totp": code_now(&secret, 1)})),
        )
        .await;
    assert_eq!(status, 200, "{full}");
    assert!(full.get("mfa_enrollment_required").is_none());
    let (status, _) = server.call("GET", "/api/ai/providers", full["access_token"].as_str(), None).await;
    assert_eq!(status, 200);
    // Mandatory MFA cannot be switched off.
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/mfa/totp/disable",
            full["access_token"].as_str(),
            Some(json!({"code": code_now(&secret, -1)})),
        )
        .await;
    assert_eq!(status, 403);
    server.finish().await;
}
