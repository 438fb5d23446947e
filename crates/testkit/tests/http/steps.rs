//! The waiting and outside-world step kinds over HTTP: approval (approve, reject, timeout, across
//! a restart), wait_event (sent to a run, from the bus, timed out), subworkflow (success, failure,
//! cancellation), notify (webhook and email through an in-test SMTP listener), ai (against a fake
//! OpenAI-compatible server), and saga compensation order.

use auterity_config::{AiEndpointConfig, Secret, SmtpConfig, SmtpTls};
use auterity_testkit::{Backend, TestServer};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::assert_problem;
use super::workflows::{Target, create, finished, start, step};

async fn run_detail(server: &TestServer, token: &str, run: &str) -> Value {
    let (status, body) = server.call("GET", &format!("/api/workflows/runs/{run}"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls the run until `ready` holds.
async fn until(server: &TestServer, token: &str, run: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = run_detail(server, token, run).await;
        if ready(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "run never reached {what}: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn has_step_in(run: &Value, key: &str, status: &str) -> bool {
    run["steps"].as_array().is_some_and(|steps| steps.iter().any(|s| s["key"] == key && s["status"] == status))
}

pub(super) async fn waiting_at(server: &TestServer, token: &str, run: &str, key: &str) -> Value {
    until(server, token, run, &format!("{key} waiting"), |r| has_step_in(r, key, "waiting") && r["status"] == "waiting")
        .await
}

async fn decide(
    server: &TestServer,
    token: &str,
    run: &str,
    step: &str,
    verb: &str,
    body: Option<Value>,
) -> (u16, Value) {
    server.call("POST", &format!("/api/workflows/runs/{run}/steps/{step}/{verb}"), Some(token), body).await
}

async fn my_id(server: &TestServer, token: &str) -> String {
    let (_, me) = server.call("GET", "/api/auth/me", Some(token), None).await;
    me["id"].as_str().or_else(|| me["user"]["id"].as_str()).unwrap_or_else(|| panic!("no id in {me}")).to_owned()
}

pub async fn approval_approve_reject_timeout_and_restart(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let admin_id = my_id(&server, &token).await;
    let id = create(
        &server,
        &token,
        json!({"name": "refund", "inputs": {"amount": {"type": "integer"}},
        "steps": [
            {"id": "ask", "kind": "approval", "approvers": {"users": [admin_id]}, "message": "Refund ${inputs.amount}?",
             "timeout": "1h", "on_reject": "denied", "next": "paid"},
            {"id": "paid", "kind": "transform", "output": "paid ${inputs.amount}"},
            {"id": "denied", "kind": "transform", "output": "denied"}
        ],
        "output": "${has(steps.paid) ? steps.paid.output : steps.denied.output}"}),
    )
    .await;

    // Approve, with a comment: recorded with who and when; a second decision is a conflict.
    let run = start(&server, &token, &id, json!({"amount": 40})).await;
    let waiting = waiting_at(&server, &token, &run, "ask").await;
    assert_eq!(step(&waiting, "ask")["output"]["message"], "Refund 40?");
    let before = chrono::Utc::now();
    let (status, body) = decide(&server, &token, &run, "ask", "approve", Some(json!({"comment": "ok by me"}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, problem) = decide(&server, &token, &run, "ask", "approve", None).await;
    assert_problem(status, &problem, 409);
    let (status, problem) = decide(&server, &token, &run, "ask", "reject", None).await;
    assert_problem(status, &problem, 409);
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], "paid 40");
    let output = &step(&done, "ask")["output"];
    assert_eq!(output["approved"], true);
    assert_eq!(output["decided_by"], admin_id.as_str());
    assert_eq!(output["comment"], "ok by me");
    let at = chrono::DateTime::parse_from_rfc3339(output["decided_at"].as_str().unwrap()).unwrap();
    assert!(at >= before - chrono::Duration::seconds(1), "{output}");
    // A step that is not an approval, or not waiting, or unknown.
    let (status, problem) = decide(&server, &token, &run, "paid", "approve", None).await;
    assert_problem(status, &problem, 409);
    let (status, problem) = decide(&server, &token, &run, "nope", "approve", None).await;
    assert_problem(status, &problem, 404);

    // Reject without a body: routed to `on_reject`.
    let run = start(&server, &token, &id, json!({"amount": 7})).await;
    waiting_at(&server, &token, &run, "ask").await;
    // Someone with write access who is not an approver may not decide.
    server.create_user(&token, "clerk@example.test", "clerk", json!([{"system": "autmatrix", "level": "write"}])).await;
    let clerk = server.login("clerk@example.test", auterity_testkit::user_password()).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = decide(&server, &clerk, &run, "ask", "approve", None).await;
    assert_problem(status, &problem, 403);
    let (status, body) = decide(&server, &token, &run, "ask", "reject", None).await;
    assert_eq!(status, 200, "{body}");
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["output"], "denied", "{done}");
    assert_eq!(step(&done, "ask")["output"]["approved"], false);
    assert_eq!(step(&done, "ask")["output"]["comment"], Value::Null);

    // Without `on_reject`, a rejection fails the step (class rejected); without `on_timeout`, the
    // deadline fails it (class timeout).
    let strict = create(
        &server,
        &token,
        json!({"name": "strict", "steps": [
        {"id": "ask", "kind": "approval", "approvers": {"users": [admin_id]}, "timeout": "1s"}]}),
    )
    .await;
    let run = start(&server, &token, &strict, json!({})).await;
    waiting_at(&server, &token, &run, "ask").await;
    decide(&server, &token, &run, "ask", "reject", Some(json!({"comment": "no"}))).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["error"]["class"], "rejected", "{done}");
    let started = Instant::now();
    let run = start(&server, &token, &strict, json!({})).await;
    let done = finished(&server, &token, &run).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "timed out too early");
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["error"]["class"], "timeout", "{done}");
    let (status, problem) = decide(&server, &token, &run, "ask", "approve", None).await;
    assert_problem(status, &problem, 409);

    // A wait survives a restart: it is stored, not held in memory.
    let run = start(&server, &token, &id, json!({"amount": 99})).await;
    waiting_at(&server, &token, &run, "ask").await;
    let (config, dir) = server.stop().await;
    let server = TestServer::start_config(backend, config, dir).await;
    let token = server.admin_token().await;
    let (status, body) = decide(&server, &token, &run, "ask", "approve", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(finished(&server, &token, &run).await["output"], "paid 99");
    server.finish().await;
}

pub async fn wait_event_matched_from_api_and_bus_and_timed_out(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let id = create(&server, &token, json!({"name": "await-lead", "inputs": {"lead": {"type": "string"}},
        "steps": [
            {"id": "wait", "kind": "wait_event", "event_type": "lead.scored", "filter": "event.payload.lead == inputs.lead",
             "timeout": "30s", "next": "use"},
            {"id": "use", "kind": "transform", "output": "${steps.wait.output.payload.score}"}
        ],
        "output": "${steps.use.output}"})).await;
    let run = start(&server, &token, &id, json!({"lead": "L1"})).await;
    waiting_at(&server, &token, &run, "wait").await;
    let send = |body: Value| {
        let (server, token, run) = (&server, &token, &run);
        async move { server.call("POST", &format!("/api/workflows/runs/{run}/events"), Some(token), Some(body)).await }
    };
    // Wrong type, then a filter mismatch: nothing delivered, still waiting.
    let (status, body) = send(json!({"type": "lead.created", "data": {"lead": "L1", "score": 1}})).await;
    assert_eq!((status, body["delivered_to"].clone()), (200, json!([])), "{body}");
    let (status, body) = send(json!({"type": "lead.scored", "data": {"lead": "L2", "score": 2}})).await;
    assert_eq!((status, body["delivered_to"].clone()), (200, json!([])), "{body}");
    let (status, body) = send(json!({"type": "lead.scored", "data": {"lead": "L1", "score": 77}})).await;
    assert_eq!((status, body["delivered_to"].clone()), (200, json!(["wait"])), "{body}");
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["output"], 77, "{done}");
    assert_eq!(step(&done, "wait")["output"]["event_type"], "lead.scored");
    let (status, problem) = send(json!({"type": "lead.scored", "data": {}})).await;
    assert_problem(status, &problem, 409);
    let (status, problem) = send(json!({"data": {}})).await;
    assert_problem(status, &problem, 422);

    // From the events bus: waits for another run to complete (its outbox event, relayed).
    let gate_id = create(&server, &token, json!({"name": "gate", "steps": [
        {"id": "ask", "kind": "approval", "approvers": {"roles": ["nobody"], "users": [my_id(&server, &token).await]}, "timeout": "1h"}]})).await;
    let watcher = create(
        &server,
        &token,
        json!({"name": "watcher", "inputs": {"other": {"type": "string"}},
        "steps": [{"id": "wait", "kind": "wait_event", "event_type": "workflow.run.completed",
                   "filter": "event.payload.run_id == inputs.other", "timeout": "30s"}],
        "output": "${steps.wait.output.payload.run_id}"}),
    )
    .await;
    let gate = start(&server, &token, &gate_id, json!({})).await;
    let watch = start(&server, &token, &watcher, json!({"other": gate})).await;
    waiting_at(&server, &token, &watch, "wait").await;
    // The gate is approved only once it waits: started first, it may still be queued (CI failed
    // once when the approval answered 409 and the watcher timed out).
    waiting_at(&server, &token, &gate, "ask").await;
    let (status, body) = decide(&server, &token, &gate, "ask", "approve", None).await;
    assert_eq!(status, 200, "{body}");
    let done = finished(&server, &token, &watch).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], gate.as_str());

    // Timed out: `on_timeout` routes with output null; without it the step fails (class timeout).
    let late = create(
        &server,
        &token,
        json!({"name": "late", "steps": [
        {"id": "wait", "kind": "wait_event", "event_type": "never", "timeout": "500ms", "on_timeout": "gave_up"},
        {"id": "gave_up", "kind": "transform", "output": "gave up"}], "output": "${steps.gave_up.output}"}),
    )
    .await;
    let run = start(&server, &token, &late, json!({})).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["output"], "gave up", "{done}");
    assert_eq!(step(&done, "wait")["output"], Value::Null);
    let strict = create(
        &server,
        &token,
        json!({"name": "late-strict", "steps": [
        {"id": "wait", "kind": "wait_event", "event_type": "never", "timeout": "500ms"}]}),
    )
    .await;
    let run = start(&server, &token, &strict, json!({})).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["error"]["class"], "timeout", "{done}");

    // An event written to the outbox while the server is down reaches the waiting step after a
    // restart (the relay publishes it once the engine listens).
    let run = start(&server, &token, &id, json!({"lead": "L9"})).await;
    waiting_at(&server, &token, &run, "wait").await;
    let org = server.state.default_org;
    let (config, dir) = server.stop().await;
    let store = auterity_store::Store::connect(&auterity_store::StoreOptions {
        database_url: config.storage.effective_database_url(),
        max_connections: 2,
        pg_schema: config.storage.database_schema.clone(),
    })
    .await
    .unwrap();
    let event = auterity_types::SystemEvent::new("lead.scored", "crm", Some(org), json!({"lead": "L9", "score": 9}));
    store.outbox.append_events(&[event]).await.unwrap();
    store.close().await;
    let server = TestServer::start_config(backend, config, dir).await;
    let token = server.admin_token().await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["output"], 9, "{done}");
    server.finish().await;
}

pub async fn subworkflow_success_failure_and_cancellation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let admin_id = my_id(&server, &token).await;
    let child = create(&server, &token, json!({"name": "double", "inputs": {"n": {"type": "integer"}},
        "steps": [{"id": "d", "kind": "transform", "output": "${inputs.n * 2}"}], "output": {"doubled": "${steps.d.output}"}})).await;
    create(
        &server,
        &token,
        json!({"name": "broken-child", "inputs": {"n": {"type": "integer"}},
        "steps": [{"id": "d", "kind": "transform", "output": "${inputs.n / 0}"}]}),
    )
    .await;
    create(
        &server,
        &token,
        json!({"name": "slow-child", "inputs": {"n": {"type": "integer"}}, "steps": [
        {"id": "ask", "kind": "approval", "approvers": {"users": [admin_id]}, "timeout": "1h"}]}),
    )
    .await;
    let parent = |name: &str, child: &str| {
        json!({"name": name, "inputs": {"n": {"type": "integer"}},
            "steps": [{"id": "call", "kind": "subworkflow", "workflow": child, "inputs": {"n": "${inputs.n + 1}"}}],
            "output": "${steps.call.output}"})
    };
    let ok = create(&server, &token, parent("calls-double", &child)).await;
    let run = start(&server, &token, &ok, json!({"n": 20})).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!({"doubled": 42}));
    let (_, children) =
        server.call("GET", &format!("/api/workflows/runs?workflow_id={child}"), Some(&token), None).await;
    let children = children["items"].as_array().unwrap();
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(children[0]["parent_run_id"], run.as_str());
    assert_eq!(children[0]["parent_step_key"], "call");
    assert_eq!(children[0]["trigger"], "subworkflow");
    assert_eq!(children[0]["inputs"], json!({"n": 21}));
    // The child shares the parent's correlation id; its start event names the parent.
    let correlation: uuid::Uuid = run.parse().unwrap();
    let events = server.state.store.outbox.events_by_correlation(correlation, 100).await.unwrap();
    let child_started = events
        .iter()
        .find(|e| e.event.event_type == "workflow.run.started" && e.event.payload["run_id"] == children[0]["id"])
        .expect("the child's workflow.run.started");
    assert_eq!(child_started.event.payload["parent_run_id"], run.as_str());

    let failing = create(&server, &token, parent("calls-broken", "broken-child")).await;
    let run = start(&server, &token, &failing, json!({"n": 1})).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["error"]["class"], "child_failed", "{done}");
    assert_eq!(done["error"]["error"]["child_error"]["error"]["class"], "expression", "{done}");

    // Cancelling the parent cancels the child it waits for.
    let waiting = create(&server, &token, parent("calls-slow", "slow-child")).await;
    let run = start(&server, &token, &waiting, json!({"n": 1})).await;
    let detail = waiting_at(&server, &token, &run, "call").await;
    let child_run = step(&detail, "call")["output"]["child_run_id"].as_str().unwrap().to_owned();
    waiting_at(&server, &token, &child_run, "ask").await;
    let (status, body) = server.call("POST", &format!("/api/workflows/runs/{run}/cancel"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(finished(&server, &token, &child_run).await["status"], "cancelled");
    assert_eq!(finished(&server, &token, &run).await["status"], "cancelled");
    server.finish().await;
}

/// A minimal SMTP server: accepts every command, records each session's transcript.
async fn smtp_listener() -> (Arc<Mutex<Vec<String>>>, u16) {
    let sessions = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorded = sessions.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test.local ESMTP ready\r\n").await.unwrap();
                let (mut transcript, mut in_data) = (String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    transcript.push_str(&line);
                    transcript.push('\n');
                    let reply: &[u8] = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        b"250 2.0.0 queued as 1\r\n"
                    } else {
                        let verb = line.to_ascii_uppercase();
                        if verb.starts_with("EHLO") {
                            b"250-test.local\r\n250 8BITMIME\r\n"
                        } else if verb.starts_with("DATA") {
                            in_data = true;
                            b"354 end with .\r\n"
                        } else if verb.starts_with("QUIT") {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        } else {
                            b"250 OK\r\n"
                        }
                    };
                    write.write_all(reply).await.unwrap();
                }
                recorded.lock().unwrap().push(transcript);
            });
        }
    });
    (sessions, port)
}

pub async fn notify_webhook_and_email(backend: Backend) {
    let (target, target_url) = Target::start().await;
    let (mails, port) = smtp_listener().await;
    let server = TestServer::start_with(backend, |config| {
        config.workflows.smtp = Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            username: None,
            password: None,
            from: "AutoMatrix <automatrix@example.test>".into(),
            tls: SmtpTls::None,
        });
    })
    .await;
    let token = server.admin_token().await;
    let id = create(&server, &token, json!({"name": "tell", "inputs": {"who": {"type": "string"}},
        "steps": [
            {"id": "hook", "kind": "notify", "channel": "webhook", "url": format!("{target_url}/hook"),
             "headers": {"x-who": "${inputs.who}"}, "body": {"text": "Hello ${inputs.who}"}, "next": "mail"},
            {"id": "mail", "kind": "notify", "channel": "email", "to": ["${inputs.who}@example.test", "${['ops@example.test']}"],
             "subject": "Lead for ${inputs.who}", "body": "Call ${inputs.who} today."}
        ],
        "output": {"hook": "${steps.hook.output}", "mail": "${steps.mail.output}"}})).await;
    let run = start(&server, &token, &id, json!({"who": "ada"})).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["hook"], json!({"delivered": true, "status": 200}));
    assert_eq!(done["output"]["mail"]["delivered"], true);
    assert_eq!(done["output"]["mail"]["recipients"], json!(["ada@example.test", "ops@example.test"]));
    let calls = target.calls_to("/hook");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0.as_deref(), Some(format!("{run}:hook").as_str()), "the webhook carries the idempotency key");
    let sessions = mails.lock().unwrap().clone();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert!(session.contains("MAIL FROM:<automatrix@example.test>"), "{session}");
    assert!(
        session.contains("RCPT TO:<ada@example.test>") && session.contains("RCPT TO:<ops@example.test>"),
        "{session}"
    );
    assert!(session.contains("Subject: Lead for ada"), "{session}");
    assert!(session.contains("Call ada today."), "{session}");
    server.finish().await;
}

/// A fake OpenAI-compatible server speaking `/v1/chat/completions`; records each request.
async fn fake_openai() -> (Arc<Mutex<Vec<(HeaderMap, Value)>>>, String) {
    type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;
    async fn completions(State(seen): State<Seen>, headers: HeaderMap, body: axum::Json<Value>) -> axum::Json<Value> {
        seen.lock().unwrap().push((headers, body.0));
        axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-test-0613",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\"qualified\": true, \"score\": 82}"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}
        }))
    }
    let seen: Seen = Arc::default();
    let app = Router::new().route("/v1/chat/completions", post(completions)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (seen, format!("http://{address}/v1"))
}

pub async fn ai_chat_completion_and_unconfigured_email(backend: Backend) {
    let (seen, base_url) = fake_openai().await;
    let server = TestServer::start_with(backend, |config| {
        config.workflows.ai =
            Some(AiEndpointConfig { base_url, api_key: Some(Secret::new("sk-test")), model: Some("gpt-test".into()) });
    })
    .await;
    let token = server.admin_token().await;
    let id = create(
        &server,
        &token,
        json!({"name": "qualify", "inputs": {"name": {"type": "string"}},
        "steps": [{"id": "score", "kind": "ai", "model": "default", "system": "You qualify car-buyer leads.",
                   "prompt": "Lead: ${inputs.name}", "response_format": "json", "max_tokens": 50, "timeout": "10s"}],
        "output": "${steps.score.output}"}),
    )
    .await;
    let run = start(&server, &token, &id, json!({"name": "Ada, wants an SUV"})).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    let output = &done["output"];
    assert_eq!(output["json"], json!({"qualified": true, "score": 82}));
    assert_eq!(output["text"], "{\"qualified\": true, \"score\": 82}");
    assert_eq!(output["usage"], json!({"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}));
    assert_eq!(output["model"], "gpt-test-0613");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert_eq!(headers.get("authorization").unwrap(), "Bearer sk-test");
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "You qualify car-buyer leads."}, {"role": "user", "content": "Lead: Ada, wants an SUV"}])
    );

    // This server has no SMTP relay: an email notify fails, saying so.
    let mail = create(
        &server,
        &token,
        json!({"name": "mail", "steps": [
        {"id": "mail", "kind": "notify", "channel": "email", "to": ["a@example.test"], "subject": "s", "body": "b"}]}),
    )
    .await;
    let run = start(&server, &token, &mail, json!({})).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "failed");
    assert!(done["error"]["error"]["message"].as_str().unwrap().contains("SMTP"), "{done}");
    server.finish().await;
}

pub async fn saga_compensates_in_reverse_completion_order(backend: Backend) {
    let (target, url) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let id = create(&server, &token, json!({"name": "book-trip", "steps": [
        {"id": "flight", "kind": "http", "method": "POST", "url": format!("{url}/do/flight"), "compensate": "undo_flight", "next": "hotel"},
        {"id": "hotel", "kind": "http", "method": "POST", "url": format!("{url}/do/hotel"), "compensate": "undo_hotel", "next": "car"},
        {"id": "car", "kind": "http", "method": "POST", "url": format!("{url}/always-500")},
        {"id": "undo_flight", "kind": "http", "method": "POST", "url": format!("{url}/undo/flight"),
         "body": {"booked": "${steps.flight.output.body.path}"}},
        {"id": "undo_hotel", "kind": "http", "method": "POST", "url": format!("{url}/undo/hotel")}
    ]})).await;
    let run = start(&server, &token, &id, json!({})).await;
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["step"], "car", "the run keeps its original error: {done}");
    assert_eq!(done["error"]["error"]["class"], "http_5xx");
    assert!(done["error"].get("compensating").is_none(), "{done}");
    let order: Vec<String> = target.calls.lock().unwrap().iter().map(|(path, _, _)| path.clone()).collect();
    assert_eq!(order, ["/do/flight", "/do/hotel", "/always-500", "/undo/hotel", "/undo/flight"]);
    let undo_hotel = step(&done, "undo_hotel");
    let undo_flight = step(&done, "undo_flight");
    assert_eq!((undo_hotel["status"].as_str(), undo_flight["status"].as_str()), (Some("completed"), Some("completed")));
    assert!(undo_hotel["completed_at"].as_str().unwrap() <= undo_flight["completed_at"].as_str().unwrap());
    assert_eq!(
        undo_flight["output"]["body"]["echo"],
        json!({"booked": "/do/flight"}),
        "a handler reads the step it undoes"
    );
    server.finish().await;
}
