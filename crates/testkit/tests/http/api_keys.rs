use auterity_testkit::{Backend, TestServer, user_password};
use serde_json::json;

use super::assert_problem;

pub async fn api_key_is_scoped_shown_once_and_revocable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    server.create_user(&admin, "kim@example.test", "kim", json!([{"system": "relaycore", "level": "write"}])).await;
    let kim = server.login("kim@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();

    // A key cannot exceed its creator's access.
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/api-keys",
            Some(&kim),
            Some(json!({"name": "too much", "systems": [{"system": "relaycore", "level": "admin"}]})),
        )
        .await;
    assert_problem(status, &body, 422);
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/api-keys",
            Some(&kim),
            Some(json!({"name": "nope", "systems": [{"system": "autmatrix", "level": "read"}]})),
        )
        .await;
    assert_problem(status, &body, 422);

    let (status, created) = server
        .call(
            "POST",
            "/api/auth/api-keys",
            Some(&kim),
            Some(json!({"name": "reporting", "systems": [{"system": "relaycore", "level": "read"}]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("aut_"));

    // relaycore:read may read, not write.
    let (status, body) = server.call("GET", "/api/ai/providers", Some(&key), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .call(
            "POST",
            "/api/ai/providers",
            Some(&key),
            Some(
                json!({"name": "local", "provider_type": "openai_compatible", "endpoint_url": "http://127.0.0.1:9/v1"}),
            ),
        )
        .await;
    assert_problem(status, &body, 403);
    // …while its owner's token (relaycore:write) may.
    let (status, body) = server
        .call("POST", "/api/ai/providers", Some(&kim), Some(json!({"name": "local", "provider_type": "openai_compatible", "endpoint_url": "http://127.0.0.1:9/v1", "api_key": "sk-secret-value"})))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(!body.to_string().contains("sk-secret-value"), "provider secrets are never returned");
    let (_, me) = server.call("GET", "/api/auth/me", Some(&key), None).await;
    assert_eq!(me["authenticated_via"], "api_key");
    assert_eq!(me["permissions"], json!(["relaycore:read"]));
    // A key cannot mint keys.
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/api-keys",
            Some(&key),
            Some(json!({"name": "child", "systems": [{"system": "relaycore", "level": "read"}]})),
        )
        .await;
    assert_eq!(status, 403);

    // Listed without the secret, with its last use recorded.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, list) = server.call("GET", "/api/auth/api-keys", Some(&kim), None).await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("key").is_none() && !list.to_string().contains(&key[12..]), "{list}");
    assert!(items[0]["last_used_at"].is_string(), "last use recorded: {list}");

    // Expired keys and deleted keys stop working.
    let (status, _) = server
        .call("DELETE", &format!("/api/auth/api-keys/{}", created["id"].as_str().unwrap()), Some(&kim), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = server.call("GET", "/api/ai/providers", Some(&key), None).await;
    assert_problem(status, &body, 401);
    let (status, body) = server
        .call("POST", "/api/auth/api-keys", Some(&kim), Some(json!({"name": "old", "systems": [{"system": "relaycore", "level": "read"}], "expires_at": "2020-01-01T00:00:00Z"})))
        .await;
    assert_problem(status, &body, 422);
    // A tampered key fails.
    let mut tampered = key.clone();
    tampered.pop();
    tampered.push(if key.ends_with('A') { 'B' } else { 'A' });
    let (status, _) = server.call("GET", "/api/ai/providers", Some(&tampered), None).await;
    assert_eq!(status, 401);
    server.finish().await;
}
