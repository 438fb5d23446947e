use auterity_testkit::{Backend, TestServer};

pub async fn health_ready_and_metrics(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, body) = server.call("GET", "/health", None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, _) = server.call("GET", "/health/live", None, None).await;
    assert_eq!(status, 200);
    let (status, body) = server.call("GET", "/health/ready", None, None).await;
    assert_eq!(status, 200, "{body}");
    let expected = match backend {
        Backend::Sqlite => "database (sqlite)",
        Backend::Postgres => "database (postgres)",
    };
    assert_eq!(body["checks"][expected]["status"], "up", "{body}");

    // A request id is generated, or propagated when the client sends a sane one.
    let response = server.client.get(server.url("/health")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let response = server.client.get(server.url("/health")).send().await.unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");

    let _ = server.call("GET", "/api/auth/me", Some("not-a-token"), None).await;
    let metrics = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total{"), "{metrics}");
    assert!(metrics.contains(r#"route="/health""#), "routes are labelled by their template");
    assert!(metrics.contains("http_request_duration_seconds_bucket{"), "histogram exported");
    assert!(metrics.contains("auth_failures_total{"), "auth failures counted");
    server.finish().await;
}

pub async fn openapi_document_declares_every_route(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, doc) = server.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/auth/login") && paths.contains_key("/health/ready"));
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let access = op["x-required-access"].as_str();
            assert!(access.is_some(), "{method} {path} declares no access requirement");
            if access != Some("public") {
                assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{method} {path} lacks security");
            }
        }
    }
    let html = server.client.get(server.url("/api/docs")).send().await.unwrap();
    assert!(html.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(html.text().await.unwrap().contains("/api/openapi.json"));
    server.finish().await;
}
