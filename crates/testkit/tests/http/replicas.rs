use auterity_config::Secret;
use auterity_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestServer, test_redis_url};
use serde_json::json;

pub async fn revocation_is_shared_across_replicas_through_redis() {
    let first =
        TestServer::start_with(Backend::Postgres, |c| c.storage.redis_url = Some(Secret::new(test_redis_url()))).await;
    let (status, ready) = first.call("GET", "/health/ready", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(ready["checks"]["redis"]["status"], "up", "{ready}");
    // A second replica on the same database schema, Redis prefix and master key.
    let shared = first.config.clone();
    let second = TestServer::start_config(Backend::Postgres, shared, None).await;

    let session = first.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = session["access_token"].as_str().unwrap();
    let (status, _) = second.call("GET", "/api/auth/me", Some(token), None).await;
    assert_eq!(status, 200, "replicas share the signing key");
    let (status, _) = first.call("POST", "/api/auth/logout", Some(token), Some(json!({}))).await;
    assert_eq!(status, 204);
    let (status, _) = second.call("GET", "/api/auth/me", Some(token), None).await;
    assert_eq!(status, 401, "revocation on one replica holds on the other");

    // Throttling is shared too: failures on one replica count on the other.
    let wrong = json!({"email": ADMIN_EMAIL, "password": "Wrong-password-1!"});
    for server in [&first, &second, &first, &second, &first] {
        let (status, _) = server.call("POST", "/api/auth/login", None, Some(wrong.clone())).await;
        assert_eq!(status, 401);
    }
    let (status, _) = second.call("POST", "/api/auth/login", None, Some(wrong)).await;
    assert_eq!(status, 429);
    second.stop().await;
    first.finish().await;
}
