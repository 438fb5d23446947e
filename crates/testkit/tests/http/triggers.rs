//! Workflow triggers over HTTP: signed webhooks (signature, replay window, replay guard, secret
//! rotation), cron schedules (per-second ticks, one fire after a downtime, one fire per tick
//! across two workers), and event triggers (one run per event, redelivery included).

use auterity_config::Role;
use auterity_testkit::{Backend, TestServer};
use auterity_types::SystemEvent;
use auterity_types::trigger_records::CronAdvance;
use auterity_workflows::triggers::signature::sign;
use chrono::Utc;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::assert_problem;

async fn create(server: &TestServer, token: &str, definition: Value) -> Value {
    let (status, body) = server.call("POST", "/api/workflows", Some(token), Some(definition)).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn runs_of(server: &TestServer, token: &str, workflow: &str) -> Vec<Value> {
    let (status, body) =
        server.call("GET", &format!("/api/workflows/runs?workflow_id={workflow}&limit=500"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn triggers_of(server: &TestServer, token: &str, workflow: &str) -> Vec<Value> {
    let (status, body) = server.call("GET", &format!("/api/workflows/{workflow}/triggers"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// POSTs `body` to the hook with the given signature header (none when `None`).
async fn deliver(server: &TestServer, path: &str, body: &str, signature: Option<String>) -> (u16, Value) {
    let mut request =
        server.client.post(server.url(path)).header("content-type", "application/json").body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("X-Auterity-Signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn signed(secret: &str, body: &str) -> String {
    sign(secret.as_bytes(), Utc::now().timestamp(), body.as_bytes())
}

pub async fn webhooks_are_signed_replay_guarded_and_rotatable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let created = create(
        &server,
        &token,
        json!({"name": "hooked", "inputs": {"n": {"type": "integer"}},
            "steps": [{"id": "double", "kind": "transform", "output": "${inputs.n * 2}"}],
            "output": "${steps.double.output}",
            "triggers": [{"id": "inbound", "kind": "webhook"}]}),
    )
    .await;
    let workflow = created["id"].as_str().unwrap().to_owned();
    let secrets = created["webhook_secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 1, "{created}");
    assert_eq!(secrets[0]["trigger_id"], "inbound");
    let secret = secrets[0]["secret"].as_str().unwrap().to_owned();
    let triggers = triggers_of(&server, &token, &workflow).await;
    assert_eq!(triggers.len(), 1);
    let path = triggers[0]["webhook_path"].as_str().unwrap().to_owned();
    assert!(path.starts_with("/api/hooks/"), "{path}");
    assert!(!triggers[0].to_string().contains(&secret), "the secret is never listed");
    let (_, fetched) = server.call("GET", &format!("/api/workflows/{workflow}"), Some(&token), None).await;
    assert!(fetched.get("webhook_secrets").is_none(), "the secret is shown once: {fetched}");

    // A valid signature starts a run with the body as inputs.
    let body = r#"{"n": 21}"#;
    let signature = signed(&secret, body);
    let (status, accepted) = deliver(&server, &path, body, Some(signature.clone())).await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["id"].as_str().unwrap().to_owned();
    let run = crate::http::workflows::finished(&server, &token, &run_id).await;
    assert_eq!(run["output"], 42, "{run}");
    assert_eq!(run["trigger"], "webhook");

    // The same signed request again is a replay; nothing is started.
    let (status, problem) = deliver(&server, &path, body, Some(signature)).await;
    assert_problem(status, &problem, 409);

    // Wrong, missing, malformed or stale signatures are 401; bad bodies are 4xx; none starts a run.
    let (status, problem) = deliver(&server, &path, body, Some(signed("whsec_wrong", body))).await;
    assert_problem(status, &problem, 401);
    let (status, problem) = deliver(&server, &path, body, None).await;
    assert_problem(status, &problem, 401);
    let (status, problem) = deliver(&server, &path, body, Some("t=1,v1=nothex".into())).await;
    assert_problem(status, &problem, 401);
    let stale = sign(secret.as_bytes(), Utc::now().timestamp() - 600, body.as_bytes());
    let (status, problem) = deliver(&server, &path, body, Some(stale)).await;
    assert_problem(status, &problem, 401);
    let tampered = signed(&secret, body);
    let (status, problem) = deliver(&server, &path, r#"{"n": 22}"#, Some(tampered)).await;
    assert_problem(status, &problem, 401);
    let (status, problem) = deliver(&server, &path, "{not json", Some(signed(&secret, "{not json"))).await;
    assert_problem(status, &problem, 400);
    let mistyped = r#"{"n": "many"}"#;
    let (status, problem) = deliver(&server, &path, mistyped, Some(signed(&secret, mistyped))).await;
    assert_problem(status, &problem, 422);
    assert!(problem["errors"].to_string().contains("/inputs/n"), "{problem}");
    let unknown = format!("/api/hooks/{}", uuid::Uuid::new_v4());
    let (status, problem) = deliver(&server, &unknown, body, Some(signed(&secret, body))).await;
    assert_problem(status, &problem, 404);
    assert_eq!(runs_of(&server, &token, &workflow).await.len(), 1, "only the valid delivery started a run");

    // Rotation: the new secret verifies, the old one no longer does. Rotating needs autmatrix admin.
    let rotate = format!("/api/workflows/{workflow}/triggers/inbound/rotate-secret");
    let writer = {
        server
            .create_user(&token, "w@example.test", "writer", json!([{"system": "autmatrix", "level": "write"}]))
            .await;
        server.login("w@example.test", auterity_testkit::user_password()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (status, _) = server.call("POST", &rotate, Some(&writer), Some(json!({}))).await;
    assert_eq!(status, 403);
    let (status, rotated) = server.call("POST", &rotate, Some(&token), Some(json!({}))).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let body = r#"{"n": 1}"#;
    let (status, problem) = deliver(&server, &path, body, Some(signed(&secret, body))).await;
    assert_problem(status, &problem, 401);
    let (status, accepted) = deliver(&server, &path, body, Some(signed(&new_secret, body))).await;
    assert_eq!(status, 202, "{accepted}");
    let (status, _) = server
        .call("POST", &format!("/api/workflows/{workflow}/triggers/nope/rotate-secret"), Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, 404);

    // A new version keeps the webhook's URL and secret; removing the trigger removes the URL.
    let (status, updated) = server
        .call(
            "PUT",
            &format!("/api/workflows/{workflow}"),
            Some(&token),
            Some(json!({"name": "hooked", "inputs": {"n": {"type": "integer"}},
                "steps": [{"id": "double", "kind": "transform", "output": "${inputs.n * 3}"}],
                "output": "${steps.double.output}",
                "triggers": [{"id": "inbound", "kind": "webhook"}]})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated.get("webhook_secrets").is_none(), "an existing webhook keeps its secret: {updated}");
    assert_eq!(triggers_of(&server, &token, &workflow).await[0]["webhook_path"], path.as_str());
    let body = r#"{"n": 2}"#;
    let (status, accepted) = deliver(&server, &path, body, Some(signed(&new_secret, body))).await;
    assert_eq!(status, 202, "{accepted}");
    let run = crate::http::workflows::finished(&server, &token, accepted["id"].as_str().unwrap()).await;
    assert_eq!(run["output"], 6, "the webhook starts the latest version");
    let (status, _) = server
        .call(
            "PUT",
            &format!("/api/workflows/{workflow}"),
            Some(&token),
            Some(json!({"name": "hooked", "inputs": {"n": {"type": "integer"}},
                "steps": [{"id": "double", "kind": "transform", "output": "${inputs.n}"}]})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(triggers_of(&server, &token, &workflow).await.is_empty());
    let body = r#"{"n": 3}"#;
    let (status, problem) = deliver(&server, &path, body, Some(signed(&new_secret, body))).await;
    assert_problem(status, &problem, 404);
    server.stop().await;
}

pub async fn trigger_declarations_are_validated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let bad = json!({"name": "bad-triggers", "inputs": {"n": {"type": "integer"}},
    "steps": [{"id": "a", "kind": "transform", "output": 1}],
    "triggers": [
        {"id": "tick", "kind": "cron", "schedule": "61 * * * *"},
        {"id": "tick", "kind": "cron", "schedule": "* * * * *", "timezone": "Mars/Olympus", "inputs": {"n": "x"}},
        {"id": "ev", "kind": "event", "event_type": "lead.received", "filter": "inputs.n > 1"},
        {"id": "hook", "kind": "webhook", "schedule": "* * * * *"}
    ]});
    let (status, problem) = server.call("POST", "/api/workflows", Some(&token), Some(bad)).await;
    assert_problem(status, &problem, 422);
    let pointers: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert!(pointers.contains(&"/triggers/3/schedule"), "{problem}");
    let (_, report) = server
        .call(
            "POST",
            "/api/workflows/validate",
            Some(&token),
            Some(json!({"name": "bad-triggers", "inputs": {"n": {"type": "integer"}},
                "steps": [{"id": "a", "kind": "transform", "output": 1}],
                "triggers": [
                    {"id": "tick", "kind": "cron", "schedule": "61 * * * *"},
                    {"id": "tick", "kind": "cron", "schedule": "* * * * *", "timezone": "Mars/Olympus", "inputs": {"n": "x"}},
                    {"id": "ev", "kind": "event", "event_type": "lead.received", "filter": "inputs.n > 1"}
                ]})),
        )
        .await;
    let pointers: Vec<&str> =
        report["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    for expected in
        ["/triggers/0/schedule", "/triggers/1/id", "/triggers/1/timezone", "/triggers/1/inputs/n", "/triggers/2/filter"]
    {
        assert!(pointers.contains(&expected), "{expected} missing from {report}");
    }
    let (_, list) = server.call("GET", "/api/workflows", Some(&token), None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing stored");
    server.stop().await;
}

pub async fn cron_fires_on_schedule_and_missed_ticks_fire_once(backend: Backend) {
    // Per-second schedule: about one run per second, never more.
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let created = create(
        &server,
        &token,
        json!({"name": "every-second", "inputs": {"label": {"type": "string"}},
            "steps": [{"id": "a", "kind": "transform", "output": "${inputs.label}"}],
            "triggers": [{"id": "tick", "kind": "cron", "schedule": "* * * * * *", "inputs": {"label": "tick"}}]}),
    )
    .await;
    let every_second = created["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let runs = runs_of(&server, &token, &every_second).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(runs.len() >= 2 && runs.len() as f64 <= elapsed + 1.0, "{} runs in {elapsed:.1} s", runs.len());
    assert!(runs.iter().all(|r| r["trigger"] == "cron" && r["inputs"]["label"] == "tick"));
    let state = &triggers_of(&server, &token, &every_second).await[0];
    assert!(state["next_fire_at"].is_string() && state["last_fired_at"].is_string(), "{state}");
    let (status, _) = server.call("DELETE", &format!("/api/workflows/{every_second}"), Some(&token), None).await;
    assert_eq!(status, 204);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_delete = runs_of(&server, &token, &every_second).await.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(runs_of(&server, &token, &every_second).await.len(), after_delete, "a deleted workflow stops firing");
    let (config, dir) = server.stop().await;

    // Downtime: an hourly schedule whose stored next tick is 5 hours back fires once on start.
    let mut api_only = config.clone();
    api_only.roles = vec![Role::Api];
    let server = TestServer::start_config(backend, api_only, dir).await;
    let created = create(
        &server,
        &token_of(&server).await,
        json!({"name": "hourly", "steps": [{"id": "a", "kind": "transform", "output": 1}],
            "triggers": [{"id": "tick", "kind": "cron", "schedule": "0 * * * *", "timezone": "Europe/Paris"}]}),
    )
    .await;
    let hourly = created["id"].as_str().unwrap().to_owned();
    let workflow_uuid: uuid::Uuid = hourly.parse().unwrap();
    let stored = server
        .state
        .store
        .triggers
        .list_triggers(auterity_store::OrgScope(server.state.default_org), workflow_uuid)
        .await
        .unwrap();
    let expected = stored[0].next_fire_at.unwrap();
    let five_back = expected - chrono::Duration::hours(6);
    let moved = server
        .state
        .store
        .triggers
        .skip_cron_tick(workflow_uuid, "tick", &CronAdvance { expected, next_fire_at: Some(five_back) })
        .await
        .unwrap();
    assert!(moved);
    let (config, dir) = server.stop().await;
    let mut with_worker = config.clone();
    with_worker.roles = vec![Role::Api, Role::Worker];
    let server = TestServer::start_config(backend, with_worker.clone(), dir).await;
    // On PostgreSQL a second worker process shares the database: still one run per tick.
    let second = if backend == Backend::Postgres {
        Some(TestServer::start_config(backend, with_worker, None).await)
    } else {
        None
    };
    let token = server.admin_token().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let runs = runs_of(&server, &token, &hourly).await;
    assert_eq!(runs.len(), 1, "a missed tick fires once, not once per missed period: {runs:?}");
    let state = &triggers_of(&server, &token, &hourly).await[0];
    let next: chrono::DateTime<Utc> = state["next_fire_at"].as_str().unwrap().parse().unwrap();
    assert!(next > Utc::now(), "the schedule resumes from now: {state}");

    if let Some(second) = second {
        // Two workers, one per-second schedule: each tick is claimed once.
        let created = create(
            &server,
            &token,
            json!({"name": "shared-ticks", "steps": [{"id": "a", "kind": "transform", "output": 1}],
                "triggers": [{"id": "tick", "kind": "cron", "schedule": "* * * * * *"}]}),
        )
        .await;
        let shared = created["id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let runs = runs_of(&server, &token, &shared).await.len();
        let elapsed = started.elapsed().as_secs_f64();
        assert!(runs >= 2 && runs as f64 <= elapsed + 1.0, "{runs} runs in {elapsed:.1} s with two workers");
        second.stop().await;
    }
    server.stop().await;
}

async fn token_of(server: &TestServer) -> String {
    server.admin_token().await
}

pub async fn event_triggers_start_one_run_per_event(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let created = create(
        &server,
        &token,
        json!({"name": "on-lead", "inputs": {"score": {"type": "integer"}, "source": {"type": "string"}},
            "steps": [{"id": "a", "kind": "transform", "output": "${inputs.score}"}],
            "output": "${steps.a.output}",
            "triggers": [{"id": "lead", "kind": "event", "event_type": "lead.received",
                "filter": "event.payload.score >= 50",
                "inputs": {"score": "${event.payload.score}", "source": "${event.source_service}"}}]}),
    )
    .await;
    let workflow = created["id"].as_str().unwrap().to_owned();
    let org = Some(server.state.default_org);
    let hot = SystemEvent::new("lead.received", "crm", org, json!({"score": 80}));
    let cold = SystemEvent::new("lead.received", "crm", org, json!({"score": 10}));
    let other_type = SystemEvent::new("lead.lost", "crm", org, json!({"score": 90}));
    let other_org = SystemEvent::new(
        "lead.received",
        "crm",
        Some(auterity_types::OrgId(uuid::Uuid::now_v7())),
        json!({"score": 90}),
    );
    server.state.events.emit(&[hot.clone(), cold, other_type, other_org]).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let runs = loop {
        let runs = runs_of(&server, &token, &workflow).await;
        if !runs.is_empty() || Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = crate::http::workflows::finished(&server, &token, runs[0]["id"].as_str().unwrap()).await;
    assert_eq!(run["output"], 80);
    assert_eq!(run["trigger"], "event");
    assert_eq!(run["inputs"]["source"], "crm");

    // Redelivery of the same event (the relay may publish it again after a crash): no new run.
    assert_eq!(server.state.triggers.deliver_event(&hot).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs_of(&server, &token, &workflow).await.len(), 1, "one run per event");
    server.stop().await;
}
