//! Outbound safety over HTTP: `http` steps pass the egress policy (metadata always denied, private
//! ranges denied per organization, redirects re-checked), a response size limit and timeouts.

use auterity_testkit::{Backend, TestServer};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::workflows::finished;

/// Paths the target was asked for, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn record(&self, path: &str) {
        self.0.lock().unwrap().push(path.to_owned());
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

async fn start_target() -> (Seen, String, u16) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/ok",
            get(|State(seen): State<Seen>| async move {
                seen.record("/ok");
                axum::Json(json!({"ok": true}))
            }),
        )
        .route(
            "/redirect-ok",
            get(|State(seen): State<Seen>| async move {
                seen.record("/redirect-ok");
                (StatusCode::FOUND, [(header::LOCATION, "/ok")]).into_response()
            }),
        )
        .route(
            "/redirect-metadata",
            get(|State(seen): State<Seen>| async move {
                seen.record("/redirect-metadata");
                (StatusCode::FOUND, [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")]).into_response()
            }),
        )
        .route(
            "/big",
            get(|State(seen): State<Seen>| async move {
                seen.record("/big");
                // Streamed without a length, so the limit must be enforced while reading.
                let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 32 * 1024]));
                Response::new(axum::body::Body::from_stream(futures::stream::iter(chunks)))
            }),
        )
        .route(
            "/slow",
            get(|State(seen): State<Seen>| async move {
                seen.record("/slow");
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (seen, format!("http://{address}"), address.port())
}

/// Runs a one-step workflow fetching `url` (retried on any class, up to 3 attempts).
async fn fetch(server: &TestServer, token: &str, workflow: &str, url: &str) -> Value {
    let (status, run) = server
        .call("POST", &format!("/api/workflows/{workflow}/runs"), Some(token), Some(json!({"inputs": {"url": url}})))
        .await;
    assert_eq!(status, 201, "{run}");
    finished(server, token, run["id"].as_str().unwrap()).await
}

fn call_step(run: &Value) -> &Value {
    run["steps"].as_array().unwrap().iter().find(|s| s["key"] == "call").unwrap()
}

fn assert_failed_with(run: &Value, class: &str) {
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(call_step(run)["error"]["class"], class, "{run}");
}

pub async fn egress_policy_limits_and_timeouts(backend: Backend) {
    let (seen, base, port) = start_target().await;
    let server = TestServer::start_with(backend, |config| {
        config.egress.max_response_bytes = 1024 * 1024;
        // Listing the metadata range as allowed changes nothing: it is denied regardless.
        config.egress.allowed_cidrs = vec!["169.254.0.0/16".parse().unwrap(), "fd00:ec2::/32".parse().unwrap()];
        config.egress.allowed_hosts = Vec::new();
    })
    .await;
    let token = server.admin_token().await;
    let (status, workflow) = server
        .call(
            "POST",
            "/api/workflows",
            Some(&token),
            Some(json!({
                "name": "fetch",
                "inputs": {"url": {"type": "string"}},
                "steps": [{"id": "call", "kind": "http", "method": "GET", "url": "${inputs.url}", "timeout": "1s",
                           "retry": {"max_attempts": 3, "initial_backoff": "10ms", "retry_on": ["any"]}}],
                "output": "${steps.call.output.body}"
            })),
        )
        .await;
    assert_eq!(status, 201, "{workflow}");
    let workflow = workflow["id"].as_str().unwrap().to_owned();

    // Loopback is allowed by default (egress.deny_private = false).
    let ok = fetch(&server, &token, &workflow, &format!("{base}/ok")).await;
    assert_eq!((ok["status"].as_str(), &ok["output"]), (Some("completed"), &json!({"ok": true})), "{ok}");

    // Metadata endpoints: denied before any connection, never retried (even with retry_on any).
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",
    ] {
        let run = fetch(&server, &token, &workflow, url).await;
        assert_failed_with(&run, "egress_denied");
        assert_eq!(call_step(&run)["attempt"], 1, "a denied call is not retried: {run}");
        assert_eq!(run["attempts"].as_array().unwrap().len(), 1, "{run}");
    }

    // A redirect is followed when its target is allowed, and refused when it is not.
    let redirected = fetch(&server, &token, &workflow, &format!("{base}/redirect-ok")).await;
    assert_eq!(redirected["output"], json!({"ok": true}), "{redirected}");
    let before = seen.count();
    let run = fetch(&server, &token, &workflow, &format!("{base}/redirect-metadata")).await;
    assert_failed_with(&run, "egress_denied");
    assert!(call_step(&run)["error"]["message"].as_str().unwrap().contains("redirect"), "{run}");
    assert_eq!(seen.count(), before + 1, "only the allowed first hop was requested");

    // More than egress.max_response_bytes (2 MiB streamed against a 1 MiB limit).
    let run = fetch(&server, &token, &workflow, &format!("{base}/big")).await;
    assert_failed_with(&run, "response_too_large");

    // A slow target hits the step timeout; timeouts are retried (3 attempts).
    let run = fetch(&server, &token, &workflow, &format!("{base}/slow")).await;
    assert_failed_with(&run, "timeout");
    assert_eq!(call_step(&run)["attempt"], 3, "{run}");

    // The organization denies private ranges: literal loopback and a name resolving to it alike.
    let reader = server
        .create_user(
            &token,
            "egress-reader@example.test",
            "egressreader",
            json!([{"system": "autmatrix", "level": "write"}]),
        )
        .await;
    assert!(!reader.is_empty());
    let reader_token =
        server.login("egress-reader@example.test", auterity_testkit::user_password()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let (status, _) =
        server.call("PUT", "/api/orgs/current/egress", Some(&reader_token), Some(json!({"deny_private": true}))).await;
    assert_eq!(status, 403, "changing the egress choice needs autmatrix admin");
    let (status, view) =
        server.call("PUT", "/api/orgs/current/egress", Some(&token), Some(json!({"deny_private": true}))).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!((view["deny_private"].as_bool(), view["effective_deny_private"].as_bool()), (Some(true), Some(true)));
    let (_, view) = server.call("GET", "/api/orgs/current/egress", Some(&reader_token), None).await;
    assert_eq!(view["deny_private"], true, "{view}");
    let before = seen.count();
    for url in
        [format!("{base}/ok"), format!("http://localhost:{port}/ok"), format!("http://[::ffff:127.0.0.1]:{port}/ok")]
    {
        let run = fetch(&server, &token, &workflow, &url).await;
        assert_failed_with(&run, "egress_denied");
        assert!(call_step(&run)["error"]["message"].as_str().unwrap().contains("private"), "{run}");
    }
    assert_eq!(seen.count(), before, "nothing reached the private target");

    // Back to the server default.
    let (status, view) =
        server.call("PUT", "/api/orgs/current/egress", Some(&token), Some(json!({"deny_private": null}))).await;
    assert_eq!((status, view["effective_deny_private"].as_bool()), (200, Some(false)), "{view}");
    let ok = fetch(&server, &token, &workflow, &format!("http://localhost:{port}/ok")).await;
    assert_eq!(ok["status"], "completed", "{ok}");
    server.finish().await;
}

/// With `egress.deny_private` on in the configuration, every organization that has not chosen is
/// denied private ranges; an organization can opt back in.
pub async fn configured_default_denies_private_ranges(backend: Backend) {
    let (seen, base, _) = start_target().await;
    let server = TestServer::start_with(backend, |config| config.egress.deny_private = true).await;
    let token = server.admin_token().await;
    let (status, workflow) = server
        .call(
            "POST",
            "/api/workflows",
            Some(&token),
            Some(json!({"name": "fetch", "inputs": {"url": {"type": "string"}},
                "steps": [{"id": "call", "kind": "http", "method": "GET", "url": "${inputs.url}"}]})),
        )
        .await;
    assert_eq!(status, 201, "{workflow}");
    let workflow = workflow["id"].as_str().unwrap().to_owned();
    let run = fetch(&server, &token, &workflow, &format!("{base}/ok")).await;
    assert_failed_with(&run, "egress_denied");
    assert_eq!(seen.count(), 0);
    let (status, _) =
        server.call("PUT", "/api/orgs/current/egress", Some(&token), Some(json!({"deny_private": false}))).await;
    assert_eq!(status, 200);
    let run = fetch(&server, &token, &workflow, &format!("{base}/ok")).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(seen.count(), 1);
    server.finish().await;
}
