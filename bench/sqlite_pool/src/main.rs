//! The shape of `GET /api/auth/me` on SQLite: three point reads (user, grants, teams) per request,
//! `CONCURRENCY` requests in flight on a 2-worker tokio runtime, for `SECS` seconds per variant.
//! Reports requests/s and process CPU time per request. Variants:
//!
//! - `sqlx-default`: a `SqlitePool` as Auterity builds it (`test_before_acquire` left at true, so
//!   every checkout pings the connection's worker thread first), one checkout per query.
//! - `sqlx-no-test`: the same with `test_before_acquire(false)`.
//! - `sqlx-one-checkout`: `test_before_acquire(false)` and the three queries on one connection.
//! - `rusqlite-inline`: a connection per tokio worker thread, queried inline (no hand-off).
//!
//! Usage: sqlite-pool-bench [SECS=5] [CONCURRENCY=16]

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection};

const USER: &str = "00000000-0000-7000-8000-000000000002";
const ORG: &str = "00000000-0000-7000-8000-000000000001";
const Q_USER: &str = "SELECT id, org_id, email, username, roles, is_active, created_at FROM users WHERE org_id = ?1 AND id = ?2";
const Q_GRANTS: &str = "SELECT system_name, access_level FROM user_system_access WHERE user_id = ?1 ORDER BY system_name";
const Q_TEAMS: &str = "SELECT t.id FROM teams t JOIN team_members m ON m.team_id = t.id WHERE t.org_id = ?1 AND m.user_id = ?2";

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn seed(path: &str) {
    let _ = std::fs::remove_file(path);
    let con = rusqlite::Connection::open(path).unwrap();
    con.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE users (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, email TEXT NOT NULL, username TEXT NOT NULL,
           roles TEXT NOT NULL, is_active INTEGER NOT NULL, created_at TEXT NOT NULL);
         CREATE TABLE user_system_access (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, system_name TEXT NOT NULL,
           access_level TEXT NOT NULL, UNIQUE (user_id, system_name));
         CREATE TABLE teams (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL);
         CREATE TABLE team_members (team_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (team_id, user_id));",
    )
    .unwrap();
    con.execute(
        "INSERT INTO users VALUES (?1, ?2, 'admin@bench.local', 'admin', '[\"admin\"]', 1, '2025-01-01T00:00:00Z')",
        (USER, ORG),
    )
    .unwrap();
    for system in ["autmatrix", "neuroweaver", "relaycore"] {
        con.execute("INSERT INTO user_system_access (user_id, system_name, access_level) VALUES (?1, ?2, 'admin')", (USER, system))
            .unwrap();
    }
}

async fn pool(path: &str, test_before_acquire: bool) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(16)
        .test_before_acquire(test_before_acquire)
        .connect_with(options)
        .await
        .unwrap()
}

async fn three_reads_on(conn: &mut SqliteConnection) -> usize {
    let user = sqlx::query(Q_USER).bind(ORG).bind(USER).fetch_optional(&mut *conn).await.unwrap().unwrap();
    let _: String = user.get("email");
    let grants = sqlx::query(Q_GRANTS).bind(USER).fetch_all(&mut *conn).await.unwrap();
    let teams = sqlx::query(Q_TEAMS).bind(ORG).bind(USER).fetch_all(&mut *conn).await.unwrap();
    grants.len() + teams.len()
}

async fn three_reads_pool(pool: &SqlitePool) -> usize {
    let user = sqlx::query(Q_USER).bind(ORG).bind(USER).fetch_optional(pool).await.unwrap().unwrap();
    let _: String = user.get("email");
    let grants = sqlx::query(Q_GRANTS).bind(USER).fetch_all(pool).await.unwrap();
    let teams = sqlx::query(Q_TEAMS).bind(ORG).bind(USER).fetch_all(pool).await.unwrap();
    grants.len() + teams.len()
}

thread_local! {
    static CONN: RefCell<Option<rusqlite::Connection>> = const { RefCell::new(None) };
}

fn three_reads_inline(path: &str) -> usize {
    CONN.with(|cell| {
        let mut slot = cell.borrow_mut();
        let con = slot.get_or_insert_with(|| {
            let con = rusqlite::Connection::open(path).unwrap();
            con.pragma_update(None, "journal_mode", "WAL").unwrap();
            con
        });
        let email: String = con.prepare_cached(Q_USER).unwrap().query_row((ORG, USER), |r| r.get(2)).unwrap();
        std::hint::black_box(email);
        let grants = con.prepare_cached(Q_GRANTS).unwrap().query_map([USER], |r| r.get::<_, String>(1)).unwrap().count();
        let teams = con.prepare_cached(Q_TEAMS).unwrap().query_map((ORG, USER), |r| r.get::<_, String>(0)).unwrap().count();
        grants + teams
    })
}

#[derive(Clone, Copy)]
enum Variant {
    SqlxDefault,
    SqlxNoTest,
    SqlxOneCheckout,
    RusqliteInline,
}

async fn run(variant: Variant, name: &str, path: &'static str, secs: u64, concurrency: usize) {
    let pool = match variant {
        Variant::SqlxDefault => Some(pool(path, true).await),
        Variant::SqlxNoTest | Variant::SqlxOneCheckout => Some(pool(path, false).await),
        Variant::RusqliteInline => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (pool, stop, done, measuring) = (pool.clone(), stop.clone(), done.clone(), measuring.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = match variant {
                    Variant::SqlxDefault | Variant::SqlxNoTest => three_reads_pool(pool.as_ref().unwrap()).await,
                    Variant::SqlxOneCheckout => {
                        let mut conn = pool.as_ref().unwrap().acquire().await.unwrap();
                        three_reads_on(&mut conn).await
                    }
                    Variant::RusqliteInline => {
                        let n = three_reads_inline(path);
                        tokio::task::yield_now().await;
                        n
                    }
                };
                std::hint::black_box(n);
                if measuring.load(Ordering::Relaxed) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    measuring.store(false, Ordering::Relaxed);
    let (cpu1, wall) = (cpu_seconds(), t0.elapsed().as_secs_f64());
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    if let Some(pool) = pool {
        pool.close().await;
    }
    let n = done.load(Ordering::Relaxed) as f64;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{name:<18} {:>9.0} req/s  {:>6.1} µs CPU/req  {:>4.0}% CPU  (3 reads/req, c={concurrency}, load {})",
        n / wall,
        (cpu1 - cpu0) / n * 1e6,
        (cpu1 - cpu0) / wall * 100.0,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(5);
    let concurrency: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(16);
    let dir = std::env::temp_dir().join(format!("sqlite-pool-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: &'static str = Box::leak(dir.join("bench.db").to_string_lossy().into_owned().into_boxed_str());
    seed(path);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for (variant, name) in [
            (Variant::SqlxDefault, "sqlx-default"),
            (Variant::SqlxNoTest, "sqlx-no-test"),
            (Variant::SqlxOneCheckout, "sqlx-one-checkout"),
            (Variant::RusqliteInline, "rusqlite-inline"),
        ] {
            run(variant, name, path, secs, concurrency).await;
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
