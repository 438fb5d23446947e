//! Run control over HTTP: pause/resume, retry from the failed step, re-run with new inputs, the
//! 409s of invalid transitions, run filters and pagination, step attempts, live updates over SSE
//! and WebSocket (with `?access_token` accepted only there), the coordinator aliases, exactly-once
//! completion, and the workflow metrics.

use auterity_testkit::{Backend, TestServer};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::assert_problem;
use super::workflows::{Target, create, finished, start};

async fn control(server: &TestServer, token: &str, run: &str, action: &str) -> (u16, Value) {
    server.call("POST", &format!("/api/workflows/runs/{run}/{action}"), Some(token), None).await
}

async fn get_run(server: &TestServer, token: &str, run: &str) -> Value {
    let (status, body) = server.call("GET", &format!("/api/workflows/runs/{run}"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn step<'a>(run: &'a Value, key: &str) -> Option<&'a Value> {
    run["steps"].as_array().unwrap().iter().find(|s| s["key"] == key)
}

pub async fn pause_resume_and_invalid_transitions(backend: Backend) {
    let (target, base) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let id = create(
        &server,
        &token,
        json!({
            "name": "pausable",
            "steps": [
                {"id": "first", "kind": "http", "method": "GET", "url": format!("{base}/slow"), "next": "second"},
                {"id": "second", "kind": "http", "method": "GET", "url": format!("{base}/second")}
            ],
            "output": "${steps.second.output.status}"
        }),
    )
    .await;
    let run = start(&server, &token, &id, json!({})).await;
    let (status, paused) = control(&server, &token, &run, "pause").await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "paused");
    let (status, body) = control(&server, &token, &run, "pause").await;
    assert_problem(status, &body, 409);

    // Whatever was in flight (`/slow` takes 2 s) finishes and commits; nothing new starts.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let detail = get_run(&server, &token, &run).await;
    assert_eq!(detail["status"], "paused", "{detail}");
    assert!(target.calls_to("/second").is_empty(), "a step started while the run was paused");
    if step(&detail, "first").unwrap()["status"] == "completed" {
        assert_eq!(step(&detail, "second").unwrap()["status"], "ready", "{detail}");
    }

    let (status, resumed) = control(&server, &token, &run, "resume").await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "running");
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], 200);
    assert_eq!(target.calls_to("/second").len(), 1);
    assert_eq!(target.calls_to("/slow").len(), 1);

    // A finished run accepts no control, and a refused request changes nothing.
    for action in ["pause", "resume", "retry", "cancel"] {
        let (status, body) = control(&server, &token, &run, action).await;
        assert_problem(status, &body, 409);
    }
    let after = get_run(&server, &token, &run).await;
    assert_eq!(after["status"], "completed");
    assert_eq!(after["completed_at"], done["completed_at"]);
    let (status, body) = control(&server, &token, &uuid::Uuid::now_v7().to_string(), "pause").await;
    assert_problem(status, &body, 404);
    server.finish().await;
}

pub async fn retry_from_failed_step_keeps_completed_steps(backend: Backend) {
    let (target, base) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    // `/fail/1` answers 503 to the first call (per idempotency key, stable across attempts).
    let id = create(
        &server,
        &token,
        json!({
            "name": "flaky-chain",
            "steps": [
                {"id": "first", "kind": "http", "method": "GET", "url": format!("{base}/first"), "next": "flaky"},
                {"id": "flaky", "kind": "http", "method": "GET", "url": format!("{base}/fail/1"), "next": "last"},
                {"id": "last", "kind": "transform", "output": "${steps.flaky.output.body.attempt}"}
            ],
            "output": {"first": "${steps.first.output.status}", "last": "${steps.last.output}"}
        }),
    )
    .await;
    let run = start(&server, &token, &id, json!({})).await;
    let failed = finished(&server, &token, &run).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(step(&failed, "first").unwrap()["attempt"], 1);
    assert_eq!(step(&failed, "flaky").unwrap()["status"], "failed");
    assert!(step(&failed, "last").is_none());

    let (status, retried) = control(&server, &token, &run, "retry").await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["status"], "running");
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!({"first": 200, "last": 2}));
    assert_eq!(step(&done, "first").unwrap()["attempt"], 1, "a completed step is not run again");
    assert_eq!(step(&done, "flaky").unwrap()["attempt"], 2, "attempt numbers continue");
    assert_eq!(target.calls_to("/first").len(), 1);
    assert_eq!(target.calls_to("/fail/1").len(), 2);
    let (status, body) = control(&server, &token, &run, "retry").await;
    assert_problem(status, &body, 409);

    // The failed step's attempts, a page at a time.
    let attempts = |query: &str| format!("/api/workflows/runs/{run}/steps/flaky/attempts{query}");
    let (status, page) = server.call("GET", &attempts("?limit=1"), Some(&token), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let first = &page["items"][0];
    assert_eq!(first["number"], 1);
    assert_eq!(first["outcome"], "failed");
    assert!(first["error"].is_object(), "{first}");
    assert!(first["worker"].as_str().is_some_and(|w| !w.is_empty()), "{first}");
    assert!(first["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(page["next_cursor"], 1);
    let (_, page) = server.call("GET", &attempts("?limit=1&after=1"), Some(&token), None).await;
    assert_eq!(page["items"][0]["number"], 2);
    assert_eq!(page["items"][0]["outcome"], "completed");
    let (_, page) = server.call("GET", &attempts("?after=2"), Some(&token), None).await;
    assert!(page["items"].as_array().unwrap().is_empty());
    assert!(page["next_cursor"].is_null());
    let (status, body) =
        server.call("GET", &format!("/api/workflows/runs/{run}/steps/nope/attempts"), Some(&token), None).await;
    assert_problem(status, &body, 404);

    // Exactly one completion (and one failure) recorded for the run, with its correlation id.
    let events =
        server.state.store.outbox.events_by_correlation(uuid::Uuid::parse_str(&run).unwrap(), 100).await.unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.event.event_type == kind).count();
    assert_eq!(count("workflow.run.started"), 1);
    assert_eq!(count("workflow.run.failed"), 1);
    assert_eq!(count("workflow.step.failed"), 1);
    assert_eq!(count("workflow.run.retried"), 1);
    assert_eq!(count("workflow.run.completed"), 1);
    server.finish().await;
}

pub async fn parallel_paths_complete_a_run_exactly_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    // Two top-level paths (`next` with two ids) end at about the same time: one completion, one event.
    let id = create(
        &server,
        &token,
        json!({
            "name": "two-paths",
            "steps": [
                {"id": "fork", "kind": "transform", "output": 0, "next": ["a", "b"]},
                {"id": "a", "kind": "transform", "output": 1},
                {"id": "b", "kind": "transform", "output": 2}
            ],
            "output": "${steps.a.output + steps.b.output}"
        }),
    )
    .await;
    let mut runs = Vec::new();
    for _ in 0..20 {
        runs.push(start(&server, &token, &id, json!({})).await);
    }
    for run in &runs {
        let done = finished(&server, &token, run).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["output"], 3);
        let events =
            server.state.store.outbox.events_by_correlation(uuid::Uuid::parse_str(run).unwrap(), 100).await.unwrap();
        let completions = events.iter().filter(|e| e.event.event_type == "workflow.run.completed").count();
        assert_eq!(completions, 1, "run {run}");
    }
    server.finish().await;
}

pub async fn rerun_filters_and_pagination(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let definition = |greeting: &str| {
        json!({
            "name": "greeter",
            "inputs": {"who": {"type": "string"}},
            "steps": [{"id": "hello", "kind": "transform", "output": format!("{greeting} ${{inputs.who}}")}],
            "output": "${steps.hello.output}"
        })
    };
    let id = create(&server, &token, definition("Hello")).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let mut runs = Vec::new();
    for who in ["a", "b", "c"] {
        let run = start(&server, &token, &id, json!({"who": who})).await;
        finished(&server, &token, &run).await;
        runs.push(run);
    }
    // A new version does not change what a re-run executes: it pins the original's version.
    let (status, body) =
        server.call("PUT", &format!("/api/workflows/{id}"), Some(&token), Some(definition("Hi"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, rerun) = server
        .call(
            "POST",
            &format!("/api/workflows/runs/{}/rerun", runs[0]),
            Some(&token),
            Some(json!({"inputs": {"who": "z"}})),
        )
        .await;
    assert_eq!(status, 201, "{rerun}");
    assert_eq!(rerun["rerun_of"], runs[0].as_str());
    assert_eq!(rerun["trigger"], "rerun");
    assert_eq!(rerun["version"], 1);
    let rerun_id = rerun["id"].as_str().unwrap().to_owned();
    let done = finished(&server, &token, &rerun_id).await;
    assert_eq!(done["output"], "Hello z");
    // Without a body it repeats the original inputs.
    let (status, again) =
        server.call("POST", &format!("/api/workflows/runs/{}/rerun", runs[1]), Some(&token), None).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["inputs"], json!({"who": "b"}));
    finished(&server, &token, again["id"].as_str().unwrap()).await;
    let (status, body) = server
        .call(
            "POST",
            &format!("/api/workflows/runs/{}/rerun", runs[0]),
            Some(&token),
            Some(json!({"inputs": {"who": 5}})),
        )
        .await;
    assert_problem(status, &body, 422);
    let (status, body) =
        server.call("POST", &format!("/api/workflows/runs/{}/rerun", uuid::Uuid::now_v7()), Some(&token), None).await;
    assert_problem(status, &body, 404);

    let list = |query: String| {
        let server = &server;
        let token = &token;
        async move {
            let (status, body) = server.call("GET", &format!("/api/workflows/runs?{query}"), Some(token), None).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
    };
    let page = list(format!("rerun_of={}", runs[0])).await;
    assert_eq!(ids(&page), vec![rerun_id.clone()]);
    assert_eq!(ids(&list("trigger=rerun".into()).await).len(), 2);
    assert_eq!(ids(&list("trigger=manual&status=completed".into()).await).len(), 3);
    assert_eq!(ids(&list(format!("workflow_id={id}&status=failed")).await).len(), 0);
    let since_param = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).replace('+', "%2B");
    assert_eq!(ids(&list(format!("since={since_param}")).await).len(), 5);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(ids(&list(format!("since={future}")).await).len(), 0);
    assert_eq!(
        ids(&list(format!("until={}", since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))).await).len(),
        0
    );

    // Pagination: newest first, two at a time, no overlap, nothing missed.
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = list(query.clone()).await;
        let got = ids(&page);
        assert!(got.len() <= 2);
        seen.extend(got);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&after={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");
    let (status, body) = server.call("GET", "/api/workflows/runs?since=yesterday", Some(&token), None).await;
    assert_problem(status, &body, 400);
    server.finish().await;
}

/// Reads an SSE response until the `end` event; returns the event names and their data.
async fn read_sse(mut response: reqwest::Response) -> Vec<(String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(chunk) = tokio::time::timeout_at(deadline.into(), response.chunk()).await.unwrap().unwrap() {
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            if !name.is_empty() {
                events.push((name, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

pub async fn live_updates_over_sse_and_websocket(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let id = create(
        &server,
        &token,
        json!({
            "name": "watched",
            "steps": [
                {"id": "wait", "kind": "delay", "duration": "600ms", "next": "done"},
                {"id": "done", "kind": "transform", "output": "ok"}
            ],
            "output": "${steps.done.output}"
        }),
    )
    .await;

    // SSE, authorized by the query parameter (as an EventSource would).
    let run = start(&server, &token, &id, json!({})).await;
    let response = server
        .client
        .get(server.url(&format!("/api/workflows/runs/{run}/events?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = read_sse(response).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"snapshot"), "{names:?}");
    assert_eq!(names.last(), Some(&"end"), "{names:?}");
    assert_eq!(events[0].1["id"], run.as_str());
    assert!(events[0].1["steps"].is_array());
    assert!(events.iter().any(|(n, d)| n == "step" && d["key"] == "done" && d["status"] == "completed"), "{names:?}");
    assert_eq!(events.last().unwrap().1["status"], "completed");
    assert_eq!(events.last().unwrap().1["output"], "ok");

    // WebSocket, the same feed.
    let run = start(&server, &token, &id, json!({})).await;
    let ws_url = server.url(&format!("/ws/runs/{run}?access_token={token}")).replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.unwrap();
    let mut kinds = Vec::new();
    let mut last = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(message) = tokio::time::timeout_at(deadline.into(), socket.next()).await.unwrap() {
        match message.unwrap() {
            tokio_tungstenite::tungstenite::Message::Text(text) => {
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                kinds.push(message["type"].as_str().unwrap().to_owned());
                last = message["data"].clone();
            }
            tokio_tungstenite::tungstenite::Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = socket.close(None).await;
    assert_eq!(kinds.first().map(String::as_str), Some("snapshot"), "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("end"), "{kinds:?}");
    assert_eq!(last["id"], run.as_str());
    assert_eq!(last["status"], "completed");

    // A finished run: snapshot then end at once. A header works too.
    let response = server
        .client
        .get(server.url(&format!("/api/workflows/runs/{run}/events")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let names: Vec<String> = read_sse(response).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["snapshot", "end"]);

    // `?access_token` is accepted on these two routes only; a bad one is refused there too.
    let (status, body) =
        server.call("GET", &format!("/api/workflows/runs/{run}?access_token={token}"), None, None).await;
    assert_problem(status, &body, 401);
    let (status, body) = server.call("GET", &format!("/api/workflows/runs/{run}/events"), None, None).await;
    assert_problem(status, &body, 401);
    let (status, body) =
        server.call("GET", &format!("/api/workflows/runs/{run}/events?access_token=not-a-token"), None, None).await;
    assert_problem(status, &body, 401);
    let bad_ws = server.url(&format!("/ws/runs/{run}")).replacen("http://", "ws://", 1);
    assert!(tokio_tungstenite::connect_async(bad_ws.as_str()).await.is_err(), "a WebSocket without credentials");
    let (status, body) =
        server.call("GET", &format!("/api/workflows/runs/{}/events", uuid::Uuid::now_v7()), Some(&token), None).await;
    assert_problem(status, &body, 404);
    socket.close(None).await.ok();
    server.finish().await;
}

pub async fn coordinator_aliases_and_metrics(backend: Backend) {
    let (_target, base) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let alias = "/api/v1/collaborative/workflows";
    let (status, created) = server
        .call(
            "POST",
            alias,
            Some(&token),
            Some(json!({
                "name": "aliased",
                "steps": [{"id": "call", "kind": "http", "method": "GET", "url": format!("{base}/fail/1"),
                           "retry": {"max_attempts": 2, "initial_backoff": "10ms", "jitter": 0.0}}],
                "output": "${steps.call.output.status}"
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, run) =
        server.call("POST", &format!("{alias}/{id}/runs"), Some(&token), Some(json!({"inputs": {}}))).await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_str().unwrap();
    let done = finished(&server, &token, run_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (status, detail) = server.call("GET", &format!("{alias}/runs/{run_id}"), Some(&token), None).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["output"], 200);
    let (status, list) = server.call("GET", alias, Some(&token), None).await;
    assert_eq!(status, 200);
    assert!(list["items"].as_array().unwrap().iter().any(|w| w["id"] == id));
    let (status, body) = server.call("GET", &format!("{alias}/runs"), None, None).await;
    assert_problem(status, &body, 401);

    // Every alias is in the OpenAPI document with the original's declared access.
    let (_, doc) = server.call("GET", "/api/openapi.json", None, None).await;
    let paths = doc["paths"].as_object().unwrap();
    let originals: Vec<&String> = paths.keys().filter(|p| p.starts_with("/api/workflows")).collect();
    assert!(originals.len() >= 10);
    for path in originals {
        let aliased = path.replacen("/api/workflows", alias, 1);
        for (method, op) in paths[path].as_object().unwrap() {
            assert_eq!(paths[&aliased][method]["x-required-access"], op["x-required-access"], "{method} {aliased}");
        }
    }

    // Metrics: runs by status, step durations by kind, retries, queue gauges.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let has = |name: &str| text.lines().any(|l| l.starts_with(name));
        let all = has("auterity_workflow_runs_total{status=\"completed\"}")
            && has("auterity_workflow_runs_total{status=\"started\"}")
            && has("auterity_workflow_step_duration_seconds_bucket{kind=\"http\"")
            && has("auterity_workflow_retries_total")
            && has("auterity_workflow_queue_depth")
            && has("auterity_workflow_oldest_ready_age_seconds");
        if all {
            break;
        }
        assert!(Instant::now() < deadline, "metrics missing:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.finish().await;
}

/// A worker dies right after committing a run's last step result (before anything completed the
/// run): the committed state holds the run's finishing step, and the next worker completes the
/// run once. The dead worker's claim and commit are made through the store, as the engine does.
pub async fn a_run_left_after_its_last_step_is_completed_after_restart(backend: Backend) {
    use auterity_config::Role;
    use auterity_store::OrgScope;
    use auterity_types::workflow_records::{AttemptRecord, LeaseGuard, StepChange, Transition};

    let server = TestServer::start_with(backend, |c| c.roles = vec![Role::Api]).await;
    let token = server.admin_token().await;
    let id = create(
        &server,
        &token,
        json!({
            "name": "one-step",
            "steps": [{"id": "only", "kind": "transform", "output": 41}],
            "output": "${steps.only.output + 1}"
        }),
    )
    .await;
    let run_id = start(&server, &token, &id, json!({})).await;
    let run_uuid = uuid::Uuid::parse_str(&run_id).unwrap();
    let store = server.state.store.clone();
    let run = store.workflows.get_run(OrgScope(server.state.default_org), run_uuid).await.unwrap().unwrap();

    // The dead worker claims the step and commits its result the way `plan` records an ended path.
    let now = chrono::Utc::now();
    let claimed =
        store.workflows.claim_steps("dead-worker", now, now + chrono::Duration::seconds(30), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let finish = auterity_workflows::engine::finish::finish_step(&run, now);
    let result = Transition {
        run_id: run_uuid,
        org_id: Some(run.org_id),
        guard: Some(LeaseGuard { step_key: "only".into(), owner: "dead-worker".into(), attempt: 1 }),
        step_changes: vec![StepChange::Set {
            step_key: "only".into(),
            status: "completed".into(),
            output: Some(json!(41)),
            error: None,
            ready_at: None,
            wake_at: None,
            completed_at: Some(now),
        }],
        attempt: Some(AttemptRecord {
            run_id: run_uuid,
            step_key: "only".into(),
            attempt: 1,
            outcome: "completed".into(),
            error: None,
            started_at: now,
            finished_at: now,
            worker: Some("dead-worker".into()),
        }),
        finish_step: Some(finish.clone()),
        at: now,
        ..Transition::default()
    };
    // A finishing step is scheduled only once no other step is open: not while `only` runs.
    let early = Transition { guard: None, step_changes: vec![], attempt: None, ..result.clone() };
    assert_eq!(store.workflows.commit_transitions(&[early, result]).await.unwrap(), vec![true, true]);
    let steps = store.workflows.list_steps(OrgScope(run.org_id), run_uuid).await.unwrap();
    let keys: Vec<&str> = steps.iter().map(|s| s.step_key.as_str()).collect();
    assert_eq!(keys, ["only", "#finish"]);
    assert_eq!(get_run(&server, &token, &run_id).await["status"], "running");
    // kill -9: nothing else happens in this process.
    let (mut config, dir) = server.stop().await;

    config.roles = vec![Role::Api, Role::Worker];
    let server = TestServer::start_config(backend, config, dir).await;
    let done = finished(&server, &token, &run_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], 42);
    assert_eq!(step(&done, "only").unwrap()["attempt"], 1, "the completed step did not run again");
    let events = server.state.store.outbox.events_by_correlation(run_uuid, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.event.event_type == "workflow.run.completed").count(), 1);
    server.finish().await;
}

/// A worker process writes a run's entry step claimed with the start itself (`running`, attempt
/// 1, leased) and runs it from there: when the start answers, the step is already running, and it
/// runs once. (A process without the worker role leaves entry steps ready for the workers:
/// `a_run_left_after_its_last_step_is_completed_after_restart` claims one.)
pub async fn a_run_starts_with_its_entry_step_claimed(backend: Backend) {
    use auterity_store::OrgScope;

    let (target, base) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let id = create(
        &server,
        &token,
        json!({
            "name": "slow-first",
            "steps": [
                {"id": "call", "kind": "http", "method": "POST", "url": format!("{base}/slow"), "next": "after"},
                {"id": "after", "kind": "transform", "output": "${steps.call.output.status}"}
            ],
            "output": "${steps.after.output}"
        }),
    )
    .await;
    let run_id = start(&server, &token, &id, json!({})).await;
    let run_uuid = uuid::Uuid::parse_str(&run_id).unwrap();
    let steps = server.state.store.workflows.list_steps(OrgScope(server.state.default_org), run_uuid).await.unwrap();
    let call = steps.iter().find(|s| s.step_key == "call").unwrap();
    assert_eq!(call.status, "running", "{call:?}");
    assert_eq!(call.attempt, 1);
    assert!(call.lease_owner.is_some() && call.lease_expires_at > Some(chrono::Utc::now()), "{call:?}");

    let done = finished(&server, &token, &run_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], 200);
    assert_eq!(step(&done, "call").unwrap()["attempt"], 1);
    assert_eq!(target.calls_to("/slow").len(), 1);
    server.finish().await;
}

/// Two worker processes on one PostgreSQL database: every run completes exactly once.
pub async fn two_workers_on_postgres_complete_each_run_once() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = TestServer::start_config(Backend::Postgres, first.config.clone(), None).await;
    let token = first.admin_token().await;
    let id = create(
        &first,
        &token,
        json!({
            "name": "fan",
            "steps": [
                {"id": "fork", "kind": "transform", "output": 0, "next": ["a", "b", "c"]},
                {"id": "a", "kind": "transform", "output": 1},
                {"id": "b", "kind": "transform", "output": 2},
                {"id": "c", "kind": "transform", "output": 3}
            ],
            "output": "${steps.a.output + steps.b.output + steps.c.output}"
        }),
    )
    .await;
    let mut runs = Vec::new();
    for n in 0..30 {
        let server = if n % 2 == 0 { &first } else { &second };
        runs.push(start(server, &token, &id, json!({})).await);
    }
    for run in &runs {
        let done = finished(&first, &token, run).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["output"], 6);
        let events =
            first.state.store.outbox.events_by_correlation(uuid::Uuid::parse_str(run).unwrap(), 100).await.unwrap();
        let completions = events.iter().filter(|e| e.event.event_type == "workflow.run.completed").count();
        assert_eq!(completions, 1, "run {run}");
    }
    second.stop().await;
    first.finish().await;
}

/// A branch of a `parallel` fails while the other is still executing: retrying puts the container
/// back to waiting at its join and the interrupted branch back to ready; the run completes with
/// both branches' outputs and the steps completed before the failure are not run again.
pub async fn retry_restores_a_parallel_join(backend: Backend) {
    let (target, base) = Target::start().await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let id = create(
        &server,
        &token,
        json!({
            "name": "fan-retry",
            "steps": [
                {"id": "before", "kind": "http", "method": "GET", "url": format!("{base}/before"), "next": "both"},
                {"id": "both", "kind": "parallel", "branches": [
                    {"name": "left", "steps": [
                        {"id": "l", "kind": "http", "method": "GET", "url": format!("{base}/fail/1")}
                    ]},
                    {"name": "right", "steps": [
                        {"id": "r", "kind": "http", "method": "GET", "url": format!("{base}/slow")}
                    ]}
                ]}
            ],
            "output": {"left": "${steps.both.output.left.status}", "right": "${steps.both.output.right.status}"}
        }),
    )
    .await;
    let run = start(&server, &token, &id, json!({})).await;
    let failed = finished(&server, &token, &run).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(step(&failed, "both").unwrap()["status"], "cancelled", "{failed}");
    assert_eq!(step(&failed, "both/right/r").unwrap()["status"], "cancelled", "{failed}");

    let (status, body) = control(&server, &token, &run, "retry").await;
    assert_eq!(status, 200, "{body}");
    let done = finished(&server, &token, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!({"left": 200, "right": 200}));
    assert_eq!(step(&done, "before").unwrap()["attempt"], 1);
    assert_eq!(step(&done, "both").unwrap()["attempt"], 1, "the container did not open again");
    assert_eq!(step(&done, "both/left/l").unwrap()["attempt"], 2);
    assert_eq!(target.calls_to("/before").len(), 1);
    // The join fired once: the container's successors and the run's completion happened once.
    let events =
        server.state.store.outbox.events_by_correlation(uuid::Uuid::parse_str(&run).unwrap(), 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.event.event_type == "workflow.run.completed").count(), 1);
    server.finish().await;
}
