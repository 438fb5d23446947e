//! Engine benchmarks (ignored by default; `bench/engine.sh` runs them in release): the shapes of
//! issue 3's goals, measured from the server's own timestamps so client polling adds nothing.
//! - `chain`: one run at a time of 40 no-op `transform` steps; end to end and per step.
//! - `throughput`: many concurrent runs of 10 no-op steps; durable steps per second.
//! - `fanout`: one `foreach` of 1,000 items, all at once, joined; end to end.
//! - `restart`: thousands of runs sleeping in a `delay`; the server stops, their timers pass, and it
//!   starts again; time from the start call until the first resumed step reaches an HTTP target.

use auterity_testkit::{Backend, TestServer};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::workflows::{Target, create, finished, start};

/// Server settings of every benchmark: quiet logs and the server's default pool (by backend;
/// `AUTERITY_BENCH_MAX_CONNECTIONS` overrides it, to compare pool sizes).
fn bench_server(backend: Backend) -> impl std::future::Future<Output = TestServer> {
    TestServer::start_with(backend, |c| {
        c.storage.max_connections = std::env::var("AUTERITY_BENCH_MAX_CONNECTIONS").ok().and_then(|n| n.parse().ok());
        c.telemetry.log_level = "error".to_owned();
    })
}

/// Milliseconds between two RFC 3339 timestamps of the API.
fn millis(from: &Value, to: &Value) -> f64 {
    (timestamp(to) - timestamp(from)).num_microseconds().unwrap() as f64 / 1000.0
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index]
}

/// A chain of `length` `transform` steps, each passing on a constant.
fn chain(name: &str, length: usize) -> Value {
    let steps: Vec<Value> = (0..length)
        .map(|i| {
            let mut step = json!({"id": format!("s{i}"), "kind": "transform", "output": i});
            if i + 1 < length {
                step["next"] = json!(format!("s{}", i + 1));
            }
            step
        })
        .collect();
    json!({"name": name, "steps": steps})
}

/// `chain`: `runs` runs one after another (after two warm-up runs). Prints the p50/p90 of the
/// end-to-end time (run created → run completed) and of the time per step (end to end / length).
pub async fn chain_latency(backend: Backend, length: usize, runs: usize) -> String {
    let server = bench_server(backend).await;
    let token = server.admin_token().await;
    let workflow = create(&server, &token, chain("bench-chain", length)).await;
    let (mut e2e, mut first, mut cycles, mut after) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..runs + 2 {
        let run = start(&server, &token, &workflow, json!({})).await;
        let body = finished(&server, &token, &run).await;
        assert_eq!(body["status"], "completed", "{body}");
        if round >= 2 {
            e2e.push(millis(&body["created_at"], &body["completed_at"]));
            let steps: Vec<&Value> = (0..length)
                .map(|i| body["steps"].as_array().unwrap().iter().find(|s| s["key"] == format!("s{i}")).unwrap())
                .collect();
            first.push(millis(&body["created_at"], &steps[0]["completed_at"]));
            cycles.extend(steps.windows(2).map(|pair| millis(&pair[0]["completed_at"], &pair[1]["completed_at"])));
            after.push(millis(&steps[length - 1]["completed_at"], &body["completed_at"]));
        }
    }
    let mut per_step: Vec<f64> = e2e.iter().map(|ms| ms / length as f64).collect();
    let cycle_mean = cycles.iter().sum::<f64>() / cycles.len() as f64;
    // Where the time goes: created → first step completed (the start's commit, the step's claim
    // and its own commit), one step's completion to the next's, last step completed → run completed.
    let line = format!(
        "RESULT peer=auterity backend={} shape=chain steps={length} runs={runs} e2e_p50_ms={:.2} e2e_p90_ms={:.2} per_step_p50_ms={:.3} first_done_p50_ms={:.2} step_cycle_p50_ms={:.3} step_cycle_mean_ms={cycle_mean:.3} step_cycle_p99_ms={:.2} after_last_p50_ms={:.2} {}",
        name(backend),
        percentile(&mut e2e, 0.5),
        percentile(&mut e2e, 0.9),
        percentile(&mut per_step, 0.5),
        percentile(&mut first, 0.5),
        percentile(&mut cycles, 0.5),
        percentile(&mut cycles, 0.99),
        percentile(&mut after, 0.5),
        commit_stats(&server).await,
    );
    server.finish().await;
    line
}

/// Starts `runs` runs of `workflow` from `clients` concurrent clients; their ids.
async fn start_many(
    server: &TestServer,
    token: &str,
    workflow: &str,
    runs: usize,
    clients: usize,
    inputs: Value,
) -> Vec<String> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, client, url, token, inputs) = (
            next.clone(),
            server.client.clone(),
            server.url(&format!("/api/workflows/{workflow}/runs")),
            token.to_owned(),
            inputs.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < runs {
                let response =
                    client.post(&url).bearer_auth(&token).json(&json!({"inputs": inputs})).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 201);
                let body: Value = response.json().await.unwrap();
                ids.push(body["id"].as_str().unwrap().to_owned());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    ids
}

/// `throughput`: `runs` runs of a `length`-step chain started at once. Prints durable steps per
/// second over the span from the first run's creation to the last run's completion.
pub async fn throughput(backend: Backend, runs: usize, length: usize) -> String {
    let server = bench_server(backend).await;
    let token = server.admin_token().await;
    let workflow = create(&server, &token, chain("bench-throughput", length)).await;
    let creating = Instant::now();
    let ids = start_many(&server, &token, &workflow, runs, 16, json!({})).await;
    let create_ms = creating.elapsed().as_secs_f64() * 1000.0;
    // Waits on one count, not on 500 run details (which would load the server being measured).
    let scope = auterity_store::OrgScope(server.state.default_org);
    let workflow_id: uuid::Uuid = workflow.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while server.state.store.workflows.count_active_runs(scope, Some(workflow_id), None).await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "runs did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut created = Vec::new();
    let mut completed = Vec::new();
    let mut step_ends = Vec::new();
    for id in &ids {
        let body = finished(&server, &token, id).await;
        assert_eq!(body["status"], "completed", "{body}");
        created.push(timestamp(&body["created_at"]));
        completed.push(timestamp(&body["completed_at"]));
        for step in body["steps"].as_array().unwrap() {
            if step["key"] != "#finish" {
                step_ends.push(timestamp(&step["completed_at"]));
            }
        }
    }
    assert_eq!(step_ends.len(), runs * length);
    let (first, last_created) = (*created.iter().min().unwrap(), *created.iter().max().unwrap());
    let last = *completed.iter().max().unwrap();
    let ms = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
        (to - from).num_microseconds().unwrap() as f64 / 1000.0
    };
    let wall_ms = ms(first, last);
    // Once every run exists: the steps that completed after the last run was created.
    let steady = step_ends.iter().filter(|end| **end > last_created).count();
    let steady_ms = ms(last_created, last);
    let steps = runs * length;
    let line = format!(
        "RESULT peer=auterity backend={} shape=throughput runs={runs} steps={steps} wall_ms={wall_ms:.0} steps_per_s={:.0} create_ms={create_ms:.0} steady_steps={steady} steady_steps_per_s={:.0} {}",
        name(backend),
        steps as f64 / (wall_ms / 1000.0),
        steady as f64 / (steady_ms / 1000.0),
        commit_stats(&server).await,
    );
    server.finish().await;
    line
}

/// Group commits of transitions and of run starts, from `/metrics` (process-wide: this
/// benchmark's server only): mean batch size and mean write time of each.
pub async fn commit_stats(server: &TestServer) -> String {
    let text = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse::<f64>().ok()))
            .unwrap_or(f64::NAN)
    };
    let mut stats = Vec::new();
    for group in ["commit", "start"] {
        let batches = value(&format!("auterity_workflow_{group}_batch_size_count"));
        let items = value(&format!("auterity_workflow_{group}_batch_size_sum"));
        let seconds = value(&format!("auterity_workflow_{group}_seconds_sum"));
        stats.push(format!(
            "{group}s={batches:.0} mean_{group}_batch={:.1} mean_{group}_ms={:.2}",
            items / batches,
            seconds * 1000.0 / batches
        ));
    }
    stats.join(" ")
}

fn timestamp(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap().with_timezone(&chrono::Utc)
}

/// `fanout`: a `foreach` over `width` items with `concurrency` = `width` and a one-step body,
/// joined. Prints the p50 of `rounds` runs' end-to-end times.
pub async fn fanout(backend: Backend, width: usize, rounds: usize) -> String {
    let server = bench_server(backend).await;
    let token = server.admin_token().await;
    let workflow = create(
        &server,
        &token,
        json!({"name": "bench-fanout", "inputs": {"items": {"type": "array"}},
            "steps": [{"id": "each", "kind": "foreach", "items": "inputs.items", "concurrency": width,
                "steps": [{"id": "work", "kind": "transform", "output": "${item}"}]}],
            "output": "${size(steps.each.output)}"}),
    )
    .await;
    let items: Vec<usize> = (0..width).collect();
    let mut e2e = Vec::new();
    for _ in 0..rounds {
        let run = start(&server, &token, &workflow, json!({"items": items})).await;
        let body = finished(&server, &token, &run).await;
        assert_eq!(body["status"], "completed", "{body}");
        assert_eq!(body["output"], json!(width), "{body}");
        e2e.push(millis(&body["created_at"], &body["completed_at"]));
    }
    let line = format!(
        "RESULT peer=auterity backend={} shape=fanout width={width} rounds={rounds} e2e_ms={:.0} e2e_max_ms={:.0}",
        name(backend),
        percentile(&mut e2e, 0.5),
        percentile(&mut e2e, 1.0),
    );
    server.finish().await;
    line
}

/// `restart`: `runs` runs of step → `delay` until a common instant → `http` step to a local
/// target. Once every run sleeps, the server stops; once the instant has passed, it starts again
/// over the same data. Prints the time from the start call to the target's first call, and until
/// every run's call arrived.
pub async fn restart(backend: Backend, runs: usize) -> String {
    let (target, target_url) = Target::start().await;
    let server = bench_server(backend).await;
    let token = server.admin_token().await;
    let workflow = create(
        &server,
        &token,
        json!({"name": "bench-restart", "inputs": {"at": {"type": "string"}},
        "steps": [
            {"id": "first", "kind": "transform", "output": 1, "next": "sleep"},
            {"id": "sleep", "kind": "delay", "until": "inputs.at", "next": "resumed"},
            {"id": "resumed", "kind": "http", "method": "POST", "url": format!("{target_url}/resumed")}
        ]}),
    )
    .await;
    // Far enough ahead that every run is created and asleep before its timer is due.
    let wake = chrono::Utc::now() + chrono::Duration::seconds(30 + (runs / 250) as i64);
    let at = wake.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let created = Instant::now();
    let ids = start_many(&server, &token, &workflow, runs, 16, json!({"at": at})).await;
    let create_secs = created.elapsed().as_secs_f64();
    // Asleep: nothing due now (every `first` ran, every `sleep` set its timer).
    loop {
        let (depth, _) = server.state.store.workflows.queue_depth(chrono::Utc::now()).await.unwrap();
        if depth == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(chrono::Utc::now() < wake, "the runs were not all asleep before their timers were due");
    assert!(target.calls_to("/resumed").is_empty());
    let (config, dir) = server.stop().await;
    let until_due = (wake - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200);
    tokio::time::sleep(until_due).await;
    let restarted = Instant::now();
    let server = TestServer::start_config(backend, config, dir).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    let first = loop {
        if let Some(first) = target.calls_to("/resumed").iter().map(|(_, at)| *at).min() {
            break first;
        }
        assert!(Instant::now() < deadline, "no run resumed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    loop {
        if target.calls_to("/resumed").len() >= ids.len() {
            break;
        }
        assert!(Instant::now() < deadline, "not every run resumed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = restarted.elapsed();
    let line = format!(
        "RESULT peer=auterity backend={} shape=restart runs={runs} restart_to_first_step_ms={:.0} restart_to_all_steps_ms={:.0} create_runs_per_s={:.0}",
        name(backend),
        (first - restarted).as_secs_f64() * 1000.0,
        all.as_secs_f64() * 1000.0,
        runs as f64 / create_secs,
    );
    server.finish().await;
    line
}

fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}
