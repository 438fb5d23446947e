use auterity_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestServer, user_password};
use serde_json::json;

use super::assert_problem;

pub async fn login_refresh_reuse_logout(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().unwrap() > 0);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let (status, me) = server.call("GET", "/api/auth/me", Some(access), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert!(me["permissions"].as_array().unwrap().contains(&json!("relaycore:write")));

    // Login by username works as well.
    let (status, _) = server
        .call("POST", "/api/auth/login", None, Some(json!({"username": "admin", "password": ADMIN_PASSWORD})))
        .await;
    assert_eq!(status, 200);

    // Rotation: the refresh answers a new pair.
    let (status, rotated) =
        server.call("POST", "/api/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(status, 200, "{rotated}");
    let new_refresh = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, refresh);
    let (status, _) = server.call("GET", "/api/auth/me", Some(rotated["access_token"].as_str().unwrap()), None).await;
    assert_eq!(status, 200);

    // Reusing the spent token is rejected and revokes the whole family, the new token included.
    let (status, body) = server.call("POST", "/api/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await;
    assert_problem(status, &body, 401);
    let (status, body) =
        server.call("POST", "/api/auth/refresh", None, Some(json!({"refresh_token": new_refresh}))).await;
    assert_problem(status, &body, 401);

    // Logout revokes the access token.
    let (status, _) = server.call("POST", "/api/auth/logout", Some(access), None).await;
    assert_eq!(status, 204);
    let (status, body) = server.call("GET", "/api/auth/me", Some(access), None).await;
    assert_problem(status, &body, 401);
    assert_eq!(body["code"], "token_revoked");

    // Logout with a refresh token ends that family too.
    let tokens = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/logout",
            tokens["access_token"].as_str(),
            Some(json!({"refresh_token": tokens["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) =
        server.call("POST", "/api/auth/refresh", None, Some(json!({"refresh_token": tokens["refresh_token"]}))).await;
    assert_eq!(status, 401);
    server.finish().await;
}

pub async fn password_change_ends_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    server.create_user(&admin, "pat@example.test", "pat", json!([{"system": "autmatrix", "level": "read"}])).await;
    let first = server.login("pat@example.test", user_password()).await;
    let second = server.login("pat", user_password()).await;
    let token = first["access_token"].as_str().unwrap();

    let (status, body) = server
        .call(
            "POST",
            "/api/auth/password",
            Some(token),
            Some(json!({"current_password": "wrong-password-here", "new_password": "Another-Str0ng-Phrase"})),
        )
        .await;
    assert_problem(status, &body, 422);
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/password",
            Some(token),
            Some(json!({"current_password": user_password(), "new_password": "password1234"})),
        )
        .await;
    assert_problem(status, &body, 422);
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/password",
            Some(token),
            Some(json!({"current_password": user_password(), "new_password": "Another-Str0ng-Phrase"})),
        )
        .await;
    assert_eq!(status, 204);
    for session in [&first, &second] {
        let (status, _) = server.call("GET", "/api/auth/me", session["access_token"].as_str(), None).await;
        assert_eq!(status, 401, "old access tokens end");
        let (status, _) = server
            .call("POST", "/api/auth/refresh", None, Some(json!({"refresh_token": session["refresh_token"]})))
            .await;
        assert_eq!(status, 401, "old refresh tokens end");
    }
    let (status, _) = server
        .call("POST", "/api/auth/login", None, Some(json!({"email": "pat@example.test", "password": user_password()})))
        .await;
    assert_eq!(status, 401);
    let fresh = server.login("pat@example.test", "Another-Str0ng-Phrase").await;
    let (status, _) = server.call("GET", "/api/auth/me", fresh["access_token"].as_str(), None).await;
    assert_eq!(status, 200);
    server.finish().await;
}

pub async fn disabled_user_cannot_sign_in_or_use_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    let id = server.create_user(&admin, "dana@example.test", "dana", json!([])).await;
    let session = server.login("dana@example.test", user_password()).await;
    let (status, body) =
        server.call("PATCH", &format!("/api/auth/users/{id}"), Some(&admin), Some(json!({"is_active": false}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_active"], false);
    let (status, _) = server.call("GET", "/api/auth/me", session["access_token"].as_str(), None).await;
    assert_eq!(status, 401);
    let (status, _) =
        server.call("POST", "/api/auth/refresh", None, Some(json!({"refresh_token": session["refresh_token"]}))).await;
    assert_eq!(status, 401);
    let (status, body) = server
        .call("POST", "/api/auth/login", None, Some(json!({"email": "dana@example.test", "password": user_password()})))
        .await;
    assert_problem(status, &body, 401);
    // An admin cannot lock themselves out.
    let (status, me) = server.call("GET", "/api/auth/me", Some(&admin), None).await;
    assert_eq!(status, 200);
    let admin_id = me["id"].as_str().unwrap();
    let (status, body) = server
        .call("PATCH", &format!("/api/auth/users/{admin_id}"), Some(&admin), Some(json!({"is_active": false})))
        .await;
    assert_problem(status, &body, 422);
    server.finish().await;
}
