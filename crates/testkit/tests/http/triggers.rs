//! Workflow triggers over HTTP: signed webhooks (signature, replay window, replay guard, secret
//! rotation), cron schedules (per-second ticks, one fire after a downtime, one fire per tick
//! across two workers), and event triggers (one run per event, redelivery included, recorded by
//! whichever process relays the event, with or without the worker role).

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

/// The runs of `workflow` once there are at least `at_least` (polled; a loaded machine fires
/// ticks late, never early), or whatever there is after 15 s.
async fn runs_reaching(server: &TestServer, token: &str, workflow: &str, at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let runs = runs_of(server, token, workflow).await;
        if runs.len() >= at_least || Instant::now() > deadline {
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    server.finish().await;
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
    server.finish().await;
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
    let runs = runs_reaching(&server, &token, &every_second, 3).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(runs.len() >= 3 && runs.len() as f64 <= elapsed + 1.0, "{} runs in {elapsed:.1} s", runs.len());
    assert!(runs.iter().all(|r| r["trigger"] == "cron" && r["inputs"]["label"] == "tick"));
    let state = &triggers_of(&server, &token, &every_second).await[0];
    assert!(state["next_fire_at"].is_string() && state["last_fired_at"].is_string(), "{state}");
    let (status, _) = server.call("DELETE", &format!("/api/workflows/{every_second}"), Some(&token), None).await;
    assert_eq!(status, 204);
    // A tick already being fired when the delete committed may still land; the scheduler sleeps
    // at most a second between looks.
    tokio::time::sleep(Duration::from_millis(1500)).await;
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
    assert_eq!(runs_reaching(&server, &token, &hourly, 1).await.len(), 1, "the missed tick fires on start");
    // Time for any further (wrong) catch-up fires: the scheduler looks again within a second.
    tokio::time::sleep(Duration::from_millis(2000)).await;
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
        let runs = runs_reaching(&server, &token, &shared, 3).await.len();
        // Both workers get time to fire a tick twice, if they would.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let runs_later = runs_of(&server, &token, &shared).await.len();
        let elapsed = started.elapsed().as_secs_f64();
        assert!(
            runs >= 3 && runs_later as f64 <= elapsed + 1.0,
            "{runs_later} runs in {elapsed:.1} s with two workers"
        );
        second.stop().await;
    }
    server.finish().await;
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
    let (config, dir) = server.stop().await;

    // A process without the worker role still hands the events it relays to the event triggers:
    // the run is recorded there, before the event is marked published, and a worker runs it later.
    let mut api_only = config.clone();
    api_only.roles = vec![Role::Api];
    let server = TestServer::start_config(backend, api_only, dir).await;
    let token = server.admin_token().await;
    let warm = SystemEvent::new("lead.received", "web", org, json!({"score": 60}));
    server.state.events.emit(&[warm]).await.unwrap();
    let runs = runs_reaching(&server, &token, &workflow, 2).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (config, dir) = server.stop().await;
    let mut with_worker = config.clone();
    with_worker.roles = vec![Role::Api, Role::Worker];
    let server = TestServer::start_config(backend, with_worker, dir).await;
    let token = server.admin_token().await;
    let newest = runs_of(&server, &token, &workflow)
        .await
        .into_iter()
        .find(|run| run["inputs"]["source"] == "web")
        .expect("the run the api-only process recorded");
    let run = crate::http::workflows::finished(&server, &token, newest["id"].as_str().unwrap()).await;
    assert_eq!(run["output"], 60);
    server.finish().await;
}

/// A local target that holds each request 300 ms and records the most requests in flight at once,
/// overall and per path segment after `/hold/`.
#[derive(Clone, Default)]
struct Gauge {
    state: std::sync::Arc<std::sync::Mutex<GaugeState>>,
}

#[derive(Default)]
struct GaugeState {
    current: i64,
    max: i64,
    current_by_key: std::collections::HashMap<String, i64>,
    max_by_key: std::collections::HashMap<String, i64>,
    arrivals: Vec<String>,
}

impl Gauge {
    async fn start() -> (Self, String) {
        let gauge = Gauge::default();
        let app = axum::Router::new().route("/hold/{key}", axum::routing::any(hold)).with_state(gauge.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (gauge, format!("http://{address}"))
    }

    fn max(&self) -> i64 {
        self.state.lock().unwrap().max
    }

    fn max_of(&self, key: &str) -> i64 {
        self.state.lock().unwrap().max_by_key.get(key).copied().unwrap_or(0)
    }

    fn arrivals(&self) -> Vec<String> {
        self.state.lock().unwrap().arrivals.clone()
    }

    fn reset(&self) {
        *self.state.lock().unwrap() = GaugeState::default();
    }
}

async fn hold(
    axum::extract::State(gauge): axum::extract::State<Gauge>,
    axum::extract::Path(key): axum::extract::Path<String>,
) -> &'static str {
    {
        let mut state = gauge.state.lock().unwrap();
        state.current += 1;
        state.max = state.max.max(state.current);
        state.arrivals.push(key.clone());
        let current = {
            let entry = state.current_by_key.entry(key.clone()).or_default();
            *entry += 1;
            *entry
        };
        let max = state.max_by_key.entry(key.clone()).or_default();
        *max = (*max).max(current);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut state = gauge.state.lock().unwrap();
    state.current -= 1;
    *state.current_by_key.entry(key).or_default() -= 1;
    "held"
}

fn held(name: &str, target: &str, flow: Value) -> Value {
    json!({"name": name, "inputs": {"rooftop": {"type": "string"}, "tag": {"type": "string", "default": ""}},
        "steps": [{"id": "call", "kind": "http", "method": "GET", "url": format!("{target}/hold/${{inputs.rooftop}}${{inputs.tag}}")}],
        "flow": flow})
}

async fn start_run(server: &TestServer, token: &str, workflow: &str, inputs: Value, priority: i32) -> Value {
    let (status, body) = server
        .call(
            "POST",
            &format!("/api/workflows/{workflow}/runs"),
            Some(token),
            Some(json!({"inputs": inputs, "priority": priority})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn all_finished(server: &TestServer, token: &str, runs: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for run in runs {
        let done = crate::http::workflows::finished(server, token, run["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "completed", "{done}");
        out.push(done);
    }
    out
}

pub async fn flow_limits_hold_and_priority_orders_pending_runs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let (gauge, target) = Gauge::start().await;

    // Workflow-wide concurrency 2: six runs, never more than two in flight.
    let limited = create(&server, &token, held("limited", &target, json!({"concurrency": 2}))).await;
    let limited = limited["id"].as_str().unwrap().to_owned();
    let mut runs = Vec::new();
    for _ in 0..6 {
        let run = start_run(&server, &token, &limited, json!({"rooftop": "a"}), 0).await;
        assert_eq!(run["status"], "pending", "flow-controlled runs wait to be admitted: {run}");
        runs.push(run);
    }
    all_finished(&server, &token, &runs).await;
    assert_eq!(gauge.max(), 2, "concurrency limit 2 is reached and never exceeded");

    // Per-key concurrency 1 with two keys: at most one per key, two overall.
    gauge.reset();
    let per_key =
        create(&server, &token, held("per-rooftop", &target, json!({"key": "inputs.rooftop", "key_concurrency": 1})))
            .await;
    let per_key = per_key["id"].as_str().unwrap().to_owned();
    let mut runs = Vec::new();
    for rooftop in ["north", "south", "north", "south", "north", "south"] {
        runs.push(start_run(&server, &token, &per_key, json!({"rooftop": rooftop}), 0).await);
    }
    let finished = all_finished(&server, &token, &runs).await;
    assert_eq!((gauge.max_of("north"), gauge.max_of("south")), (1, 1));
    assert_eq!(gauge.max(), 2, "the two keys run side by side");
    assert!(finished.iter().all(|r| r["steps"][0]["status"] == "completed"));

    // Per-key rate 2/min: of four runs of one key, two start, two stay pending.
    let rated =
        create(&server, &token, held("rated", &target, json!({"key": "inputs.rooftop", "key_rate": "2/min"}))).await;
    let rated = rated["id"].as_str().unwrap().to_owned();
    let mut runs = Vec::new();
    for _ in 0..4 {
        runs.push(start_run(&server, &token, &rated, json!({"rooftop": "east"}), 0).await);
    }
    let other_key = start_run(&server, &token, &rated, json!({"rooftop": "west"}), 0).await;
    all_finished(&server, &token, &[other_key]).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let statuses: Vec<String> = runs_of(&server, &token, &rated)
        .await
        .iter()
        .filter(|r| r["inputs"]["rooftop"] == "east")
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "completed").count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "pending").count(), 2, "{statuses:?}");
    // A pending run paused and resumed waits for admission again: resuming does not go around
    // the limit.
    let cancel_later = runs[3]["id"].as_str().unwrap().to_owned();
    let pending = runs_of(&server, &token, &rated).await;
    let held_back = pending
        .iter()
        .find(|r| r["status"] == "pending" && r["id"] != cancel_later.as_str())
        .and_then(|r| r["id"].as_str())
        .unwrap()
        .to_owned();
    let (status, paused) =
        server.call("POST", &format!("/api/workflows/runs/{held_back}/pause"), Some(&token), None).await;
    assert_eq!((status, paused["status"].as_str()), (200, Some("paused")), "{paused}");
    let (status, resumed) =
        server.call("POST", &format!("/api/workflows/runs/{held_back}/resume"), Some(&token), None).await;
    assert_eq!((status, resumed["status"].as_str()), (200, Some("pending")), "{resumed}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, again) = server.call("GET", &format!("/api/workflows/runs/{held_back}"), Some(&token), None).await;
    assert_eq!(again["status"], "pending", "still held by the rate limit: {again}");
    // A pending run can be cancelled; it never starts.
    let (status, cancelled) = server
        .call(
            "POST",
            &format!("/api/workflows/runs/{}/cancel", runs[3]["id"].as_str().unwrap()),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");

    // Priority: with one slot taken, waiting runs start highest priority first, then oldest.
    gauge.reset();
    let ordered = create(&server, &token, held("ordered", &target, json!({"concurrency": 1}))).await;
    let ordered = ordered["id"].as_str().unwrap().to_owned();
    let blocker = start_run(&server, &token, &ordered, json!({"rooftop": "x", "tag": "blocker"}), 0).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while gauge.arrivals().is_empty() {
        assert!(Instant::now() < deadline, "the blocker never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut runs = vec![blocker];
    for (tag, priority) in [("low", 1), ("high", 5), ("mid", 3), ("mid2", 3)] {
        runs.push(start_run(&server, &token, &ordered, json!({"rooftop": "x", "tag": tag}), priority).await);
    }
    all_finished(&server, &token, &runs).await;
    assert_eq!(gauge.arrivals(), vec!["xblocker", "xhigh", "xmid", "xmid2", "xlow"]);
    assert_eq!(gauge.max(), 1);
    server.finish().await;
}

pub async fn pending_runs_survive_a_restart(backend: Backend) {
    // Runs queued while no worker is up are admitted, within the limit, once one starts.
    let (gauge, target) = Gauge::start().await;
    let server = TestServer::start_with(backend, |c| c.roles = vec![Role::Api]).await;
    let token = server.admin_token().await;
    let created = create(&server, &token, held("queued", &target, json!({"concurrency": 2}))).await;
    let workflow = created["id"].as_str().unwrap().to_owned();
    let mut runs = Vec::new();
    for _ in 0..4 {
        runs.push(start_run(&server, &token, &workflow, json!({"rooftop": "r"}), 0).await);
    }
    let (mut config, dir) = server.stop().await;
    config.roles = vec![Role::Api, Role::Worker];
    let server = TestServer::start_config(backend, config, dir).await;
    let token = server.admin_token().await;
    all_finished(&server, &token, &runs).await;
    assert_eq!(gauge.max(), 2);
    server.finish().await;
}

/// Benchmark (ignored by default; `bench/webhook_starts.sh` runs it): signed webhook deliveries,
/// each answered 202 only once its run is committed, from `concurrency` keep-alive clients. The
/// server runs the `api` role only, so the measure is webhook-to-run-recorded, not execution.
/// Starts per second, and the group-commit figures from `/metrics`.
pub async fn webhook_starts_throughput(backend: Backend, requests: usize, concurrency: usize) -> (f64, String) {
    let server = TestServer::start_with(backend, |c| {
        c.roles = vec![Role::Api];
        c.storage.max_connections = Some(16);
        c.telemetry.log_level = "error".to_owned();
    })
    .await;
    let token = server.admin_token().await;
    let created = create(
        &server,
        &token,
        json!({"name": "bench-hook", "inputs": {"n": {"type": "integer"}},
            "steps": [{"id": "a", "kind": "transform", "output": "${inputs.n}"}],
            "triggers": [{"id": "inbound", "kind": "webhook"}]}),
    )
    .await;
    let workflow = created["id"].as_str().unwrap().to_owned();
    let secret = created["webhook_secrets"][0]["secret"].as_str().unwrap().to_owned();
    let path = triggers_of(&server, &token, &workflow).await[0]["webhook_path"].as_str().unwrap().to_owned();
    let url = server.url(&path);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (next, url, secret) = (next.clone(), url.clone(), secret.clone());
        let client = reqwest::Client::new();
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= requests {
                    return;
                }
                let body = format!("{{\"n\": {n}}}");
                let response = client
                    .post(&url)
                    .header("X-Auterity-Signature", signed(&secret, &body))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 202);
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let recorded = server
        .state
        .store
        .workflows
        .count_active_runs(auterity_store::OrgScope(server.state.default_org), None, None)
        .await
        .unwrap();
    assert_eq!(recorded as usize, requests, "every accepted delivery is a recorded run");
    let stats = super::engine_bench::commit_stats(&server).await;
    server.finish().await;
    (requests as f64 / elapsed, stats)
}
