use auterity_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestServer};
use serde_json::json;

pub async fn repeated_failures_are_throttled_temporarily(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.auth.throttle.account_free_attempts = 3;
        c.auth.throttle.base_delay_secs = 2;
        c.auth.throttle.max_delay_secs = 2;
        c.auth.throttle.window_secs = 60;
    })
    .await;
    let wrong = json!({"email": ADMIN_EMAIL, "password": "Wrong-password-1!"});
    for _ in 0..3 {
        let (status, _) = server.call("POST", "/api/auth/login", None, Some(wrong.clone())).await;
        assert_eq!(status, 401);
    }
    let response = server.client.post(server.url("/api/auth/login")).json(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // Even the right password waits out the block: no oracle for the attacker…
    let right = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let (status, _) = server.call("POST", "/api/auth/login", None, Some(right.clone())).await;
    assert_eq!(status, 429);
    // …and the block is temporary: no permanent lockout.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let (status, body) = server.call("POST", "/api/auth/login", None, Some(right)).await;
    assert_eq!(status, 200, "{body}");
    // Other accounts were never blocked.
    let (status, _) = server
        .call("POST", "/api/auth/login", None, Some(json!({"email": "other@example.test", "password": "x"})))
        .await;
    assert_eq!(status, 401);
    let metrics = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l.starts_with("auth_failures_total{reason=\"login_failed\"}")), "{metrics}");
    // Failed logins are audited.
    let (_, audit) =
        server.call("GET", "/api/auth/audit?action=login_failed", Some(&server.admin_token().await), None).await;
    assert!(audit["items"].as_array().unwrap().len() >= 3, "{audit}");
    server.finish().await;
}
