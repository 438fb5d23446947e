//! Logs and traces leave the process as documented: JSON lines with the request id, and OTLP/HTTP
//! trace exports to the configured endpoint.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::process::{Db, Instance};

#[tokio::test]
async fn json_logs_carry_the_request_id_and_traces_reach_the_otlp_endpoint() {
    let exports = Arc::new(AtomicUsize::new(0));
    let protobuf = Arc::new(AtomicUsize::new(0));
    let collector = {
        let exports = exports.clone();
        let protobuf = protobuf.clone();
        Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: axum::body::Bytes| async move {
                exports.fetch_add(1, Ordering::SeqCst);
                if headers.get("content-type").is_some_and(|v| v == "application/x-protobuf") && !body.is_empty() {
                    protobuf.fetch_add(1, Ordering::SeqCst);
                }
                ""
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().unwrap();
    let mut instance = Instance::new(dir.path(), Db::Sqlite);
    instance.extra = vec!["--otlp-endpoint".into(), format!("http://{address}")];
    instance.env = vec![("AUTERITY_LOG_LEVEL".into(), "info".into())];
    let server = instance.serve().await;
    for _ in 0..5 {
        let response = server
            .client
            .get(format!("{}/health", server.base_url))
            .header("x-request-id", "log-trace-7")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let started = Instant::now();
    while exports.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(12) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success());
    assert!(exports.load(Ordering::SeqCst) > 0, "no OTLP export arrived");
    assert!(protobuf.load(Ordering::SeqCst) > 0, "exports were not OTLP protobuf");

    let line = stderr
        .lines()
        .find(|line| line.contains("log-trace-7") && line.contains("request completed"))
        .unwrap_or_else(|| panic!("no access log line with the request id in: {stderr}"));
    let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(parsed["span"]["request_id"], "log-trace-7");
    assert_eq!(parsed["status"], 200);
}
