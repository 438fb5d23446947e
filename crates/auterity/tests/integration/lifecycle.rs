//! Crash safety and graceful shutdown of the real process.

use serde_json::json;

use crate::process::{ADMIN_EMAIL, ADMIN_PASSWORD, Db, Instance};

async fn survives_kill_9(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::new(dir.path(), db);
    let server = instance.serve().await;
    let admin = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/users",
            Some(&admin),
            Some(json!({"email": "crash@example.test", "username": "crash", "password": "Tr1cky-Lantern-Orbit", "systems": [{"system": "autmatrix", "level": "write"}]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let session = server.login("crash@example.test", "Tr1cky-Lantern-Orbit").await;
    // The answer was sent, so the write was committed (synchronous=FULL on SQLite): kill at once.
    server.kill_9();

    let server = instance.serve().await;
    let again = server.login("crash@example.test", "Tr1cky-Lantern-Orbit").await;
    let (status, me) = server.call("GET", "/api/auth/me", again["access_token"].as_str(), None).await;
    assert_eq!(status, 200);
    assert_eq!(me["permissions"], json!(["autmatrix:read", "autmatrix:write"]));
    // Tokens issued before the crash are still valid: same key, same data.
    let (status, _) = server.call("GET", "/api/auth/me", session["access_token"].as_str(), None).await;
    assert_eq!(status, 200);
    let (status, users) = server.call("GET", "/api/auth/users", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(users["items"].as_array().unwrap().len(), 2, "one admin, one user: first start ran once");
    server.kill_9();
}

#[tokio::test]
async fn kill_9_loses_nothing_on_sqlite() {
    survives_kill_9(Db::Sqlite).await;
}

#[tokio::test]
async fn kill_9_loses_nothing_on_postgres() {
    survives_kill_9(Db::Postgres).await;
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut instance = Instance::new(dir.path(), Db::Sqlite);
    // A high argon2 cost so each login is still running when the signal arrives.
    instance.env = vec![
        ("AUTERITY_AUTH__ARGON2_MEMORY_KIB".into(), "65536".into()),
        ("AUTERITY_AUTH__ARGON2_ITERATIONS".into(), "4".into()),
    ];
    let server = instance.serve().await;
    let base = server.base_url.clone();
    let client = server.client.clone();
    let mut in_flight = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        let url = format!("{base}/api/auth/login");
        in_flight.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success(), "exit status {status}: {stderr}");
    for request in in_flight {
        assert_eq!(request.await.unwrap().unwrap(), 200, "an in-flight request was cut off");
    }
    assert!(stderr.contains("shutdown signal received") || stderr.is_empty() || status.success());
}

#[tokio::test]
async fn readiness_reports_nats_and_redis_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut instance = Instance::new(dir.path(), Db::Sqlite);
    instance.extra = vec![
        "--nats-url".into(),
        auterity_testkit::test_nats_url(),
        "--redis-url".into(),
        auterity_testkit::test_redis_url(),
    ];
    let server = instance.serve().await;
    let (status, ready) = server.call("GET", "/health/ready", None, None).await;
    assert_eq!(status, 200, "{ready}");
    for dependency in ["database (sqlite)", "redis", "nats"] {
        assert_eq!(ready["checks"][dependency]["status"], "up", "{ready}");
    }
    server.kill_9();

    // An unreachable dependency stops the start with a clear message and a failure status.
    instance.extra = vec!["--nats-url".into(), format!("nats://127.0.0.1:{}", crate::process::free_port())];
    let output = instance.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nats"), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The binary re-executes itself once with a fixed glibc mmap threshold (`malloc.rs`), keeping an
/// operator's own value.
#[tokio::test]
async fn the_server_runs_with_a_fixed_mmap_threshold() {
    let environ = |server: &crate::process::Server| {
        std::fs::read(format!("/proc/{}/environ", server.pid()))
            .unwrap()
            .split(|b| *b == 0)
            .map(|entry| String::from_utf8_lossy(entry).into_owned())
            .find(|entry| entry.starts_with("MALLOC_MMAP_THRESHOLD_="))
    };
    let dir = tempfile::tempdir().unwrap();
    let mut instance = Instance::new(dir.path(), Db::Sqlite);
    let server = instance.serve().await;
    assert_eq!(environ(&server).as_deref(), Some("MALLOC_MMAP_THRESHOLD_=131072"));
    server.kill_9();
    instance.env = vec![("MALLOC_MMAP_THRESHOLD_".into(), "262144".into())];
    let server = instance.serve().await;
    assert_eq!(environ(&server).as_deref(), Some("MALLOC_MMAP_THRESHOLD_=262144"));
    server.kill_9();
}
