//! AutoMatrix over HTTP: definitions, versions, validation, and runs executed by the durable
//! engine against a local counting target.

use auterity_testkit::{Backend, TestServer};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::assert_problem;

/// One request the target saw: path, `Idempotency-Key`, arrival.
pub type Call = (String, Option<String>, Instant);

/// A local HTTP target: records every request; `/fail/{n}` answers 503 to the first n calls per
/// idempotency key, `/slow` sleeps 2 s, anything else echoes.
#[derive(Clone, Default)]
pub struct Target {
    pub calls: Arc<Mutex<Vec<Call>>>,
}

impl Target {
    pub async fn start() -> (Self, String) {
        let target = Target::default();
        let app = Router::new().fallback(any(handle)).with_state(target.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (target, format!("http://{address}"))
    }

    pub fn calls_to(&self, path: &str) -> Vec<(Option<String>, Instant)> {
        self.calls.lock().unwrap().iter().filter(|(p, _, _)| p == path).map(|(_, k, t)| (k.clone(), *t)).collect()
    }
}

async fn handle(
    State(target): State<Target>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let path = uri.path().to_owned();
    let seen = {
        let mut calls = target.calls.lock().unwrap();
        calls.push((path.clone(), key.clone(), Instant::now()));
        calls.iter().filter(|(p, k, _)| *p == path && *k == key).count()
    };
    if let Some(n) = path.strip_prefix("/fail/").and_then(|n| n.parse::<usize>().ok())
        && seen <= n
    {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"error": "try again"})));
    }
    if path == "/always-500" {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": "broken"})));
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let echoed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (StatusCode::OK, axum::Json(json!({"path": path, "echo": echoed, "attempt": seen})))
}

/// Stores a definition; its workflow id.
pub async fn create(server: &TestServer, token: &str, definition: Value) -> String {
    let (status, body) = server.call("POST", "/api/workflows", Some(token), Some(definition)).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Starts a run; its id.
pub async fn start(server: &TestServer, token: &str, workflow: &str, inputs: Value) -> String {
    let (status, body) = server
        .call("POST", &format!("/api/workflows/{workflow}/runs"), Some(token), Some(json!({"inputs": inputs})))
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Polls the run until it reaches a terminal status.
pub async fn finished(server: &TestServer, token: &str, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = server.call("GET", &format!("/api/workflows/runs/{run}"), Some(token), None).await;
        assert_eq!(status, 200, "{body}");
        if matches!(body["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
            return body;
        }
        assert!(Instant::now() < deadline, "run did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The step `key` of a run detail.
pub fn step<'a>(run: &'a Value, key: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no step {key} in {run}"))
}

pub async fn definitions_are_validated_versioned_and_published(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let (status, schema) = server.call("GET", "/api/workflows/schema", None, None).await;
    assert_eq!(status, 200);
    assert!(schema["$schema"].as_str().unwrap_or_default().contains("2020-12"), "{schema}");

    let broken = json!({"name": "broken", "steps": [
        {"id": "a", "kind": "transform", "output": "${inputs.x +}", "next": "missing"},
        {"id": "a", "kind": "delay", "duration": "-5s"}
    ]});
    let (status, problem) = server.call("POST", "/api/workflows", Some(&token), Some(broken.clone())).await;
    assert_problem(status, &problem, 422);
    let (_, report) = server.call("POST", "/api/workflows/validate", Some(&token), Some(broken)).await;
    assert_eq!(report["valid"], false);
    assert!(
        report["errors"].as_array().unwrap().iter().all(|e| e["pointer"].as_str().unwrap().starts_with("/steps/")),
        "{report}"
    );

    let definition = json!({"name": "greet", "inputs": {"who": {"type": "string"}},
        "steps": [{"id": "hello", "kind": "transform", "output": "Hello ${inputs.who}"}], "output": "${steps.hello.output}"});
    let id = create(&server, &token, definition.clone()).await;
    let (status, _) = server.call("POST", "/api/workflows", Some(&token), Some(definition.clone())).await;
    assert_eq!(status, 409);
    let run_v1 = start(&server, &token, &id, json!({"who": "Ada"})).await;
    let mut v2 = definition.clone();
    v2["steps"][0]["output"] = json!("Hi ${inputs.who}");
    let (status, updated) = server.call("PUT", &format!("/api/workflows/{id}"), Some(&token), Some(v2)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    let run_v2 = start(&server, &token, &id, json!({"who": "Ada"})).await;
    assert_eq!(
        finished(&server, &token, &run_v1).await["output"],
        "Hello Ada",
        "a run keeps the version it started with"
    );
    let v2_run = finished(&server, &token, &run_v2).await;
    assert_eq!((v2_run["output"].as_str(), v2_run["version"].as_i64()), (Some("Hi Ada"), Some(2)));
    let (_, versions) = server.call("GET", &format!("/api/workflows/{id}/versions"), Some(&token), None).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    // Inputs are checked against their schemas.
    let (status, problem) = server
        .call("POST", &format!("/api/workflows/{id}/runs"), Some(&token), Some(json!({"inputs": {"who": 5}})))
        .await;
    assert_problem(status, &problem, 422);
    let (_, runs) = server.call("GET", &format!("/api/workflows/runs?workflow_id={id}"), Some(&token), None).await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 2);
    server.finish().await;
}

pub async fn http_condition_and_retries_run_durably(backend: Backend) {
    let (target, base) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let id = create(&server, &token, json!({
        "name": "lead-check",
        "inputs": {"score": {"type": "integer"}},
        "steps": [
            {"id": "decide", "kind": "condition", "if": "inputs.score > 50", "then": "call", "else": "skip"},
            {"id": "call", "kind": "http", "method": "POST", "url": format!("{base}/fail/2"), "body": {"score": "${inputs.score}"},
             "retry": {"max_attempts": 3, "initial_backoff": "200ms", "max_backoff": "1s", "multiplier": 2.0, "jitter": 0.0},
             "next": "done"},
            {"id": "skip", "kind": "transform", "output": "skipped"},
            {"id": "done", "kind": "transform", "output": "${steps.call.output.body.echo.score}"}
        ],
        "output": "${steps.done.output}"
    })).await;
    let run = start(&server, &token, &id, json!({"score": 80})).await;
    let run = finished(&server, &token, &run).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], 80);
    // Exactly three attempts, the same idempotency key on each, backoff 200 ms then 400 ms.
    let calls = target.calls_to("/fail/2");
    assert_eq!(calls.len(), 3, "{calls:?}");
    let key = calls[0].0.clone().unwrap();
    assert_eq!(key, format!("{}:call", run["id"].as_str().unwrap()));
    assert!(calls.iter().all(|(k, _)| k.as_deref() == Some(key.as_str())));
    let gap1 = calls[1].1 - calls[0].1;
    let gap2 = calls[2].1 - calls[1].1;
    assert!(gap1 >= Duration::from_millis(190) && gap1 < Duration::from_millis(1500), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(390) && gap2 < Duration::from_millis(2000), "{gap2:?}");
    assert_eq!(step(&run, "call")["attempt"], 3);
    assert_eq!(run["attempts"].as_array().unwrap().iter().filter(|a| a["step_key"] == "call").count(), 3);
    assert!(run["steps"].as_array().unwrap().iter().all(|s| s["key"] != "skip"), "the untaken branch never runs");

    // The other branch.
    let low = start(&server, &token, &id, json!({"score": 10})).await;
    let low = finished(&server, &token, &low).await;
    assert_eq!(step(&low, "skip")["output"], "skipped");
    server.finish().await;
}

pub async fn failures_timeouts_and_cancellation(backend: Backend) {
    let (target, base) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let broken = create(
        &server,
        &token,
        json!({"name": "broken-call", "steps": [
            {"id": "call", "kind": "http", "method": "GET", "url": format!("{base}/always-500"),
             "retry": {"max_attempts": 2, "initial_backoff": "50ms", "jitter": 0.0}, "next": "after"},
            {"id": "after", "kind": "transform", "output": 1}
        ]}),
    )
    .await;
    let run = start(&server, &token, &broken, json!({})).await;
    let run = finished(&server, &token, &run).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(step(&run, "call")["status"], "failed");
    assert_eq!(step(&run, "call")["error"]["class"], "http_5xx");
    assert_eq!(target.calls_to("/always-500").len(), 2);
    assert!(run["steps"].as_array().unwrap().iter().all(|s| s["key"] != "after"));

    let slow = create(
        &server,
        &token,
        json!({"name": "slow-call", "steps": [
            {"id": "call", "kind": "http", "method": "GET", "url": format!("{base}/slow"), "timeout": "300ms"}
        ]}),
    )
    .await;
    let run = start(&server, &token, &slow, json!({})).await;
    let run = finished(&server, &token, &run).await;
    assert_eq!(step(&run, "call")["error"]["class"], "timeout", "{run}");

    let sleepy = create(
        &server,
        &token,
        json!({"name": "sleepy", "steps": [
            {"id": "wait", "kind": "delay", "duration": "30s", "next": "after"},
            {"id": "after", "kind": "transform", "output": 1}
        ]}),
    )
    .await;
    let run = start(&server, &token, &sleepy, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, cancelled) =
        server.call("POST", &format!("/api/workflows/runs/{run}/cancel"), Some(&token), None).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, _) = server.call("POST", &format!("/api/workflows/runs/{run}/cancel"), Some(&token), None).await;
    assert_eq!(status, 409);
    let run = finished(&server, &token, &run).await;
    assert_eq!(step(&run, "wait")["status"], "cancelled");
    server.finish().await;
}

pub async fn parallel_foreach_and_delay(backend: Backend) {
    let (target, base) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let id = create(&server, &token, json!({
        "name": "fan",
        "inputs": {"leads": {"type": "array"}},
        "steps": [
            {"id": "pause", "kind": "delay", "duration": "300ms", "next": "both"},
            {"id": "both", "kind": "parallel", "branches": [
                {"name": "left", "steps": [{"id": "l", "kind": "transform", "output": "L"}]},
                {"name": "right", "steps": [
                    {"id": "r1", "kind": "http", "method": "POST", "url": format!("{base}/right"), "body": {"n": 1}, "next": "r2"},
                    {"id": "r2", "kind": "transform", "output": "${steps.r1.output.body.echo.n + 1}"}
                ]}
            ], "next": "each"},
            {"id": "each", "kind": "foreach", "items": "inputs.leads", "concurrency": 2, "steps": [
                {"id": "call", "kind": "http", "method": "POST", "url": format!("{base}/lead"), "body": {"lead": "${item}", "i": "${index}"}}
            ], "output": "${steps.call.output.body.echo.lead}"}
        ],
        "output": {"both": "${steps.both.output}", "each": "${steps.each.output}"}
    })).await;
    let started = Instant::now();
    let run = start(&server, &token, &id, json!({"leads": ["a", "b", "c", "d", "e"]})).await;
    let run = finished(&server, &token, &run).await;
    assert!(started.elapsed() >= Duration::from_millis(300), "the delay waited");
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["both"], json!({"left": "L", "right": 2}));
    assert_eq!(run["output"]["each"], json!(["a", "b", "c", "d", "e"]));
    assert_eq!(target.calls_to("/lead").len(), 5);
    // Each element ran exactly once, under its own idempotency key.
    let keys: std::collections::HashSet<_> = target.calls_to("/lead").into_iter().map(|(k, _)| k.unwrap()).collect();
    assert_eq!(keys.len(), 5);
    server.finish().await;
}
