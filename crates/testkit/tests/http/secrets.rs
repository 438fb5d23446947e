//! The workflow secret store over HTTP: values go in and never come out, are encrypted at rest,
//! reach the target of an `http` step, and are `[redacted]` wherever the run history would
//! otherwise keep them; another organization cannot use them.

use auterity_store::OrgScope;
use auterity_testkit::{Backend, TestServer, user_password};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use super::{assert_problem, workflows::finished};

/// Values of `X-Api-Token` the target received.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>);

async fn start_target() -> (Received, String) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/echo",
            post(|State(received): State<Received>, headers: HeaderMap, body: String| async move {
                let token = headers.get("x-api-token").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let authorization =
                    headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                received.0.lock().unwrap().push(token.clone());
                // An indiscreet target: echoes the credential back in headers and body.
                (
                    [("x-echo", token.clone())],
                    axum::Json(json!({"got": token, "authorization": authorization, "body": body})),
                )
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, format!("http://{address}"))
}

fn workflow(base: &str) -> Value {
    json!({
        "name": "crm-sync",
        "steps": [
            {"id": "call", "kind": "http", "method": "POST", "url": format!("{base}/echo"),
             "headers": {"X-Api-Token": "${secrets.api_token}", "Authorization": "Bearer ${secrets.api_token}"},
             "body": {"token": "${secrets.api_token}"}, "next": "copy"},
            {"id": "copy", "kind": "transform", "output": {"seen": "${steps.call.output.body.got}", "direct": "${secrets.api_token}"}}
        ],
        "output": {"call": "${steps.call.output}", "direct": "${'x' + secrets.api_token}"}
    })
}

async fn run(server: &TestServer, token: &str, workflow: &str) -> Value {
    let (status, run) =
        server.call("POST", &format!("/api/workflows/{workflow}/runs"), Some(token), Some(json!({"inputs": {}}))).await;
    assert_eq!(status, 201, "{run}");
    finished(server, token, run["id"].as_str().unwrap()).await
}

pub async fn secrets_are_write_only_encrypted_and_redacted(backend: Backend) {
    let (received, base) = start_target().await;
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    let value = format!("tok-{}", uuid::Uuid::now_v7().simple());

    // Create: the answer names the secret, never its value.
    let (status, created) =
        server.call("POST", "/api/secrets", Some(&admin), Some(json!({"name": "api_token", "value": value}))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "api_token");
    assert!(!created.to_string().contains(&value), "{created}");
    let (status, problem) =
        server.call("POST", "/api/secrets", Some(&admin), Some(json!({"name": "api_token", "value": "other"}))).await;
    assert_problem(status, &problem, 409);
    for bad in [json!({"name": "bad name", "value": "x"}), json!({"name": "ok", "value": ""}), json!({"name": "ok"})] {
        let (status, problem) = server.call("POST", "/api/secrets", Some(&admin), Some(bad)).await;
        assert!(matches!(status, 400 | 422), "{status} {problem}");
    }

    // Access: autmatrix read lists names; only admin writes.
    server
        .create_user(&admin, "sec-reader@example.test", "secreader", json!([{"system": "autmatrix", "level": "read"}]))
        .await;
    server
        .create_user(&admin, "sec-writer@example.test", "secwriter", json!([{"system": "autmatrix", "level": "write"}]))
        .await;
    let reader =
        server.login("sec-reader@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();
    let writer =
        server.login("sec-writer@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();
    let (status, listed) = server.call("GET", "/api/secrets", Some(&reader), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["items"].as_array().unwrap().iter().map(|s| s["name"].clone()).collect::<Vec<_>>(),
        [json!("api_token")]
    );
    let (status, _) =
        server.call("POST", "/api/secrets", Some(&writer), Some(json!({"name": "mine", "value": "v"}))).await;
    assert_eq!(status, 403);
    let (status, _) = server.call("PUT", "/api/secrets/api_token", Some(&writer), Some(json!({"value": "v"}))).await;
    assert_eq!(status, 403);
    let (status, _) = server.call("DELETE", "/api/secrets/api_token", Some(&writer), None).await;
    assert_eq!(status, 403);
    let (status, one) = server.call("GET", "/api/secrets/api_token", Some(&reader), None).await;
    assert_eq!(status, 200);
    assert!(!one.to_string().contains(&value), "{one}");

    // At rest: AES-256-GCM ciphertext, not the plaintext.
    let stored =
        server.state.store.outbound.get_secret(OrgScope(server.state.default_org), "api_token").await.unwrap().unwrap();
    assert!(!stored.value_encrypted.contains(&value));
    assert_ne!(stored.value_encrypted, value);

    // A run uses the real value; its history shows [redacted] wherever the value came back.
    let (status, created_workflow) = server.call("POST", "/api/workflows", Some(&admin), Some(workflow(&base))).await;
    assert_eq!(status, 201, "{created_workflow}");
    let workflow_id = created_workflow["id"].as_str().unwrap().to_owned();
    let done = run(&server, &admin, &workflow_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(*received.0.lock().unwrap(), vec![value.clone()]);
    let history = done.to_string();
    assert!(!history.contains(&value), "the run detail leaks the secret: {history}");
    assert_eq!(done["output"]["call"]["body"]["got"], "[redacted]", "{done}");
    assert_eq!(done["output"]["call"]["body"]["authorization"], "Bearer [redacted]");
    assert_eq!(done["output"]["call"]["headers"]["x-echo"], "[redacted]");
    assert_eq!(done["output"]["direct"], "x[redacted]");
    let copy = done["steps"].as_array().unwrap().iter().find(|s| s["key"] == "copy").unwrap();
    assert_eq!(copy["output"], json!({"seen": "[redacted]", "direct": "[redacted]"}));
    let run_id: uuid::Uuid = done["id"].as_str().unwrap().parse().unwrap();
    let events = server.state.store.outbox.events_by_correlation(run_id, 100).await.unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| !e.event.payload.to_string().contains(&value)), "an event leaks the secret");
    let (_, listed_runs) =
        server.call("GET", &format!("/api/workflows/runs?workflow_id={workflow_id}"), Some(&admin), None).await;
    assert!(!listed_runs.to_string().contains(&value));

    // Update: the next run sends the new value.
    let new_value = format!("new-{}", uuid::Uuid::now_v7().simple());
    let (status, updated) =
        server.call("PUT", "/api/secrets/api_token", Some(&admin), Some(json!({"value": new_value}))).await;
    assert_eq!(status, 200, "{updated}");
    assert!(!updated.to_string().contains(&new_value));
    let (status, _) = server.call("PUT", "/api/secrets/nope", Some(&admin), Some(json!({"value": "x"}))).await;
    assert_eq!(status, 404);
    let done = run(&server, &admin, &workflow_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(received.0.lock().unwrap().last(), Some(&new_value));
    assert!(!done.to_string().contains(&new_value));

    // Another organization: sees none of it and cannot use it.
    let b = super::second_org_admin(&server, &admin).await;
    let (_, b_list) = server.call("GET", "/api/secrets", Some(&b), None).await;
    assert_eq!(b_list["items"], json!([]), "{b_list}");
    for (method, body) in [("GET", None), ("PUT", Some(json!({"value": "stolen"}))), ("DELETE", None)] {
        let (status, _) = server.call(method, "/api/secrets/api_token", Some(&b), body).await;
        assert_eq!(status, 404, "{method}");
    }
    let (status, b_workflow) = server.call("POST", "/api/workflows", Some(&b), Some(workflow(&base))).await;
    assert_eq!(status, 201, "{b_workflow}");
    let calls_before = received.0.lock().unwrap().len();
    let b_run = run(&server, &b, b_workflow["id"].as_str().unwrap()).await;
    assert_eq!(b_run["status"], "failed", "{b_run}");
    let call = b_run["steps"].as_array().unwrap().iter().find(|s| s["key"] == "call").unwrap();
    assert_eq!(call["error"]["class"], "expression", "{b_run}");
    assert!(call["error"]["message"].as_str().unwrap().contains("api_token"), "{b_run}");
    assert_eq!(received.0.lock().unwrap().len(), calls_before, "org B's run never reached the target");

    // Delete: gone for listing and for runs.
    let (status, _) = server.call("DELETE", "/api/secrets/api_token", Some(&admin), None).await;
    assert_eq!(status, 204);
    let (status, _) = server.call("GET", "/api/secrets/api_token", Some(&admin), None).await;
    assert_eq!(status, 404);
    let done = run(&server, &admin, &workflow_id).await;
    assert_eq!(done["status"], "failed", "{done}");
    server.finish().await;
}
