use auterity_testkit::{Backend, TestServer, user_password};
use serde_json::json;

pub async fn data_survives_a_restart(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    server.create_user(&admin, "ray@example.test", "ray", json!([{"system": "relaycore", "level": "read"}])).await;
    let session = server.login("ray@example.test", user_password()).await;
    let (_, key) = server
        .call(
            "POST",
            "/api/auth/api-keys",
            session["access_token"].as_str(),
            Some(json!({"name": "k", "systems": [{"system": "relaycore", "level": "read"}]})),
        )
        .await;
    let revoked = server.login("ray@example.test", user_password()).await;
    let (status, _) = server.call("POST", "/api/auth/logout", revoked["access_token"].as_str(), None).await;
    assert_eq!(status, 204);
    let (config, dir) = server.stop().await;

    let server = TestServer::start_config(backend, config, dir).await;
    // Users, sessions, keys and revocations all survive.
    let (status, _) = server.call("GET", "/api/auth/me", session["access_token"].as_str(), None).await;
    assert_eq!(status, 200);
    let (status, _) = server.call("GET", "/api/ai/providers", key["key"].as_str(), None).await;
    assert_eq!(status, 200);
    let (status, _) = server.call("GET", "/api/auth/me", revoked["access_token"].as_str(), None).await;
    assert_eq!(status, 401, "a revoked token stays revoked after a restart");
    let (status, _) =
        server.call("POST", "/api/auth/refresh", None, Some(json!({"refresh_token": session["refresh_token"]}))).await;
    assert_eq!(status, 200);
    // First start ran once: still one organization and the same admin.
    let (_, orgs) = server.call("GET", "/api/auth/orgs", Some(&server.admin_token().await), None).await;
    assert_eq!(orgs["items"].as_array().unwrap().len(), 1);
    server.finish().await;
}
