use auterity_auth::crypto::MasterKey;
use auterity_auth::tokens::{Claims, TokenSigner};
use auterity_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TEST_MASTER_KEY, TestServer};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::assert_problem;

fn forged(exp_offset: i64, key: &[u8; 32], sub: uuid::Uuid, org: uuid::Uuid) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub,
        iat: now - 120,
        exp: now + exp_offset,
        jti: uuid::Uuid::now_v7(),
        iss: "auterity".into(),
        org,
        systems: vec![],
        roles: vec!["superadmin".into()],
        permissions: vec![],
        mfa_pending: false,
    };
    TokenSigner::new(key).sign(&claims).unwrap()
}

pub async fn bad_credentials_and_tokens_are_4xx_problems(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, body) = server
        .call("POST", "/api/auth/login", None, Some(json!({"email": ADMIN_EMAIL, "password": "Wrong-password-1!"})))
        .await;
    assert_problem(status, &body, 401);
    assert_eq!(body["code"], "invalid_credentials");
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "nobody@example.test", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_problem(status, &body, 401);
    assert_eq!(body["code"], "invalid_credentials", "unknown users look like wrong passwords");

    let (_, me) = server.call("GET", "/api/auth/me", Some(&server.admin_token().await), None).await;
    let sub: uuid::Uuid = me["id"].as_str().unwrap().parse().unwrap();
    let org: uuid::Uuid = me["org_id"].as_str().unwrap().parse().unwrap();
    let key = MasterKey::from_base64(TEST_MASTER_KEY).unwrap().derive_subkey("auterity-jwt-hs256-v1");

    // Sanity: the forging works, so the rejections below are for the stated reason.
    let (status, _) = server.call("GET", "/api/auth/me", Some(&forged(300, &key, sub, org)), None).await;
    assert_eq!(status, 200);
    let expired = forged(-60, &key, sub, org);
    let foreign = forged(300, &[9u8; 32], sub, org);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(
        json!({"sub": sub, "org": org, "iat": 1, "exp": 4_000_000_000i64, "jti": uuid::Uuid::now_v7(), "iss": "auterity",
               "systems": [], "roles": ["superadmin"], "permissions": []})
        .to_string(),
    );
    let unsigned = format!("{header}.{payload}.");
    for token in [expired.as_str(), foreign.as_str(), unsigned.as_str(), "garbage", "a.b.c"] {
        let (status, body) = server.call("GET", "/api/auth/me", Some(token), None).await;
        assert_problem(status, &body, 401);
    }
    for header_value in ["Bearer", "Basic dXNlcjpwYXNz", "Bearer  ", "Token abc", "Bearer a b"] {
        let response =
            server.client.get(server.url("/api/auth/me")).header("authorization", header_value).send().await.unwrap();
        assert_eq!(response.status(), 401, "{header_value:?}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let response = server
        .client
        .get(server.url("/api/auth/me"))
        .header("authorization", reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.finish().await;
}

pub async fn bad_bodies_are_4xx_problems_and_change_nothing(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.server.body_limit_bytes = 4096).await;
    let admin = server.admin_token().await;
    let send = |body: Vec<u8>, content_type: &'static str| {
        let request = server
            .client
            .post(server.url("/api/auth/users"))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, content_type, body)
        }
    };
    let oversized = format!(r#"{{"email":"big@example.test","username":"big","password":"{}"}}"#, "x".repeat(8000));
    let cases: Vec<(Vec<u8>, &str, u16)> = vec![
        (oversized.into_bytes(), "application/json", 413),
        (b"{\"email\": ".to_vec(), "application/json", 400),
        (b"not json at all".to_vec(), "application/json", 400),
        (br#"{"email":"a@example.test"}"#.to_vec(), "text/plain", 415),
        (br#"{"email":"a@example.test","username":"abc","password":"Tr1cky-Lantern-Orbit","bogus":1}"#.to_vec(), "application/json", 422),
        (br#"{"email":"a@example.test","username":"abc","password":"Tr1cky-Lantern-Orbit","systems":[{"system":"nope","level":"read"}]}"#.to_vec(), "application/json", 422),
        (br#"{"email":"not-an-email","username":"a","password":"short"}"#.to_vec(), "application/json", 422),
        (br#"[1,2,3]"#.to_vec(), "application/json", 422),
    ];
    for (body, content_type, expected) in cases {
        let (status, response_type, problem) = send(body, content_type).await;
        assert_eq!(status, expected, "{problem}");
        assert_eq!(response_type, "application/problem+json");
        assert_eq!(problem["status"], expected);
    }
    let (_, problem) = server
        .call(
            "POST",
            "/api/auth/users",
            Some(&admin),
            Some(json!({"email": "a@example.test", "username": "abc", "password": "x", "systems": [{"system": "nope", "level": "read"}]})),
        )
        .await;
    assert_eq!(problem["errors"][0]["pointer"], "/systems/0/system", "{problem}");
    let (_, problem) = server
        .call(
            "POST",
            "/api/auth/users",
            Some(&admin),
            Some(json!({"email": "bad", "username": "a", "password": "short"})),
        )
        .await;
    let pointers: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert!(
        pointers.contains(&"/email") && pointers.contains(&"/username") && pointers.contains(&"/password"),
        "{problem}"
    );

    // Nothing was written: only the admin exists.
    let (status, users) = server.call("GET", "/api/auth/users", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");

    // Bad path and query parameters.
    let (status, body) = server.call("GET", "/api/auth/users/not-a-uuid", Some(&admin), None).await;
    assert_problem(status, &body, 400);
    let (status, body) = server.call("GET", "/api/auth/users?limit=abc", Some(&admin), None).await;
    assert_problem(status, &body, 400);
    let (status, body) = server
        .call(
            "PUT",
            "/api/auth/users/00000000-0000-0000-0000-000000000000/access/nope",
            Some(&admin),
            Some(json!({"level": "read"})),
        )
        .await;
    assert_problem(status, &body, 404);
    server.finish().await;
}
