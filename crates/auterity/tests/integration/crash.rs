//! The engine's crash test: 200 runs of a 10-step `http` chain against a local counting server,
//! the server process killed with SIGKILL at random moments at least five times and restarted each
//! time. Every run must complete, every step's side effect must be seen at least once, and a step
//! may be delivered again only if it was in flight at a kill — so each repeated delivery of an
//! `Idempotency-Key` must straddle a kill, and there are at most kills × worker concurrency.
//!
//! Ignored by default (each takes tens of seconds); `make crash` (part of `make test`) runs them.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use rand::Rng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::process::{ADMIN_EMAIL, ADMIN_PASSWORD, Db, Instance, Server};

const RUNS: usize = 200;
const STEPS: usize = 10;
const KILLS: usize = 5;
/// The engine's default number of steps executing at once per worker process.
const WORKER_CONCURRENCY: usize = 256;

/// Every delivery the counting server received: idempotency key → arrival times.
#[derive(Clone, Default)]
struct Counter {
    deliveries: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

async fn count(State(counter): State<Counter>, headers: HeaderMap) -> axum::Json<Value> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
    counter.deliveries.lock().unwrap().entry(key).or_default().push(Instant::now());
    axum::Json(json!({"ok": true}))
}

async fn counting_server() -> (Counter, String) {
    let counter = Counter::default();
    let app = Router::new().route("/step/{n}", post(count)).with_state(counter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (counter, format!("http://{address}"))
}

fn chain(base: &str) -> Value {
    let steps: Vec<Value> = (0..STEPS)
        .map(|n| {
            let mut step = json!({
                "id": format!("s{n}"), "kind": "http", "method": "POST", "url": format!("{base}/step/{n}"),
                "body": {"run": "${inputs.n}", "step": n},
                "retry": {"max_attempts": 20, "initial_backoff": "50ms", "max_backoff": "500ms", "multiplier": 2.0, "jitter": 0.0}
            });
            if n + 1 < STEPS {
                step["next"] = json!(format!("s{}", n + 1));
            }
            step
        })
        .collect();
    json!({"name": "crash-chain", "inputs": {"n": {"type": "integer"}}, "steps": steps, "output": "${steps.s9.output.status}"})
}

async fn admin_token(server: &Server) -> String {
    server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"].as_str().unwrap().to_owned()
}

/// Statuses of the given runs, read through the API.
async fn statuses(server: &Server, token: &str, runs: &[String]) -> HashMap<String, String> {
    let mut seen = HashMap::new();
    for run in runs {
        let (status, body) = server.call("GET", &format!("/api/workflows/runs/{run}"), Some(token), None).await;
        assert_eq!(status, 200, "{body}");
        seen.insert(run.clone(), body["status"].as_str().unwrap_or_default().to_owned());
    }
    seen
}

/// The scenario. `extra_worker` adds a second `--roles worker` process on the same database; it
/// is the one killed (and restarted) while the first keeps serving.
#[expect(clippy::print_stderr, reason = "reports how many deliveries repeated, for the benchmark notes")]
async fn crash_scenario(db: Db, extra_worker: bool) {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::new(dir.path(), db);
    let (counter, base) = counting_server().await;

    let mut server = instance.serve().await;
    let token = admin_token(&server).await;
    let (status, body) = server.call("POST", "/api/workflows", Some(&token), Some(chain(&base))).await;
    assert_eq!(status, 201, "{body}");
    let workflow = body["id"].as_str().unwrap().to_owned();

    let worker_instance = extra_worker.then(|| {
        let mut worker = Instance::new(dir.path(), db);
        worker.schema = instance.schema.clone();
        worker.extra = vec!["--roles".into(), "worker".into()];
        worker
    });
    let mut worker = match &worker_instance {
        Some(w) => Some(w.serve().await),
        None => None,
    };

    let mut runs = Vec::with_capacity(RUNS);
    for n in 0..RUNS {
        let (status, body) = server
            .call("POST", &format!("/api/workflows/{workflow}/runs"), Some(&token), Some(json!({"inputs": {"n": n}})))
            .await;
        assert_eq!(status, 201, "{body}");
        runs.push(body["id"].as_str().unwrap().to_owned());
    }

    // Kill at random moments while the runs are in flight — at random points of their progress
    // (between 5 % and 95 % of all step deliveries), so however fast the engine is, every kill
    // lands on unfinished work. Restart each time.
    let total = RUNS * STEPS;
    let mut thresholds: Vec<usize> =
        (0..KILLS).map(|_| rand::thread_rng().gen_range(total / 20..total * 19 / 20)).collect();
    thresholds.sort_unstable();
    let mut kills = Vec::new();
    for threshold in thresholds {
        let waiting_since = Instant::now();
        while counter.deliveries.lock().unwrap().values().map(Vec::len).sum::<usize>() < threshold {
            assert!(waiting_since.elapsed() < Duration::from_secs(120), "no progress towards {threshold} deliveries");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The kill's window runs from just before the signal until the replacement is healthy:
        // a request the dying process sent may still be handled by the counting server a moment
        // after the signal.
        let signalled = Instant::now();
        match (worker.take(), &worker_instance) {
            (Some(victim), Some(again)) => {
                victim.kill_9();
                worker = Some(again.serve().await);
            }
            _ => {
                server.kill_9();
                server = instance.serve().await;
            }
        }
        kills.push((signalled, Instant::now()));
    }

    // Every run completes.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let seen = statuses(&server, &token, &runs).await;
        let unfinished: Vec<_> = seen.iter().filter(|(_, s)| s.as_str() != "completed").collect();
        if unfinished.is_empty() {
            break;
        }
        assert!(
            unfinished.iter().all(|(_, s)| matches!(s.as_str(), "pending" | "running" | "waiting")),
            "a run ended other than completed: {unfinished:?}"
        );
        assert!(Instant::now() < deadline, "{} runs did not complete, e.g. {:?}", unfinished.len(), unfinished[0]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every step's side effect observed at least once; repeats only across a kill.
    let deliveries = counter.deliveries.lock().unwrap().clone();
    let mut repeats = 0;
    for run in &runs {
        for n in 0..STEPS {
            let key = format!("{run}:s{n}");
            let times = deliveries.get(&key).unwrap_or_else(|| panic!("step {key} never reached the target"));
            for pair in times.windows(2) {
                repeats += 1;
                if !kills.iter().any(|(signalled, restarted)| pair[0] <= *restarted && *signalled <= pair[1]) {
                    let (_, detail) =
                        server.call("GET", &format!("/api/workflows/runs/{run}"), Some(&token), None).await;
                    let attempts: Vec<_> = detail["attempts"]
                        .as_array()
                        .map(|all| all.iter().filter(|a| a["step_key"] == format!("s{n}")).cloned().collect())
                        .unwrap_or_default();
                    panic!(
                        "{key} was delivered twice with no kill in between: a completed step ran again; attempts: {attempts:?}"
                    );
                }
            }
        }
    }
    assert_eq!(deliveries.values().map(|t| t.len()).sum::<usize>(), RUNS * STEPS + repeats);
    assert!(repeats <= KILLS * WORKER_CONCURRENCY, "{repeats} repeated deliveries for {KILLS} kills");
    eprintln!("crash test ({db:?}, extra worker: {extra_worker}): {KILLS} kills, {repeats} repeated deliveries");
    if let Some(worker) = worker {
        worker.kill_9();
    }
    server.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "crash test: run by `make crash`"]
async fn crash_kill_9_runs_complete_exactly_once_on_sqlite() {
    crash_scenario(Db::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "crash test: run by `make crash`"]
async fn crash_kill_9_runs_complete_exactly_once_on_postgres() {
    crash_scenario(Db::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "crash test: run by `make crash`"]
async fn crash_kill_9_one_of_two_postgres_workers() {
    crash_scenario(Db::Postgres, true).await;
}
