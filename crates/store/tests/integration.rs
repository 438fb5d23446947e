//! The store's integration tests: the conformance suite on SQLite and on PostgreSQL, and SQLite
//! durability across a reconnect.
//!
//! PostgreSQL is the server named by `AUTERITY_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); every test gets a schema of its own. These tests
//! fail, never skip, when the server is not there.

use std::cell::RefCell;

use auterity_store::{Store, StoreOptions};
use tempfile::TempDir;

thread_local! {
    /// Temporary directories of the SQLite stores made on this thread. Each test runs on a thread
    /// of its own, so they are deleted when the test ends.
    static SQLITE_DIRS: RefCell<Vec<TempDir>> = const { RefCell::new(Vec::new()) };
}

/// A migrated store on a new SQLite file in a temporary directory.
#[expect(clippy::unwrap_used, reason = "a fixture that cannot be set up fails the test")]
async fn fresh_sqlite() -> Store {
    let dir = tempfile::Builder::new().prefix("auterity-store-").tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("auterity.db").display());
    SQLITE_DIRS.with(|dirs| dirs.borrow_mut().push(dir));
    let store = Store::connect(&StoreOptions { database_url: url, max_connections: 4, pg_schema: None }).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn postgres_url() -> String {
    std::env::var("AUTERITY_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A migrated store on PostgreSQL, in a new schema `t_<uuid v7>`.
#[expect(clippy::unwrap_used, reason = "a fixture that cannot be set up fails the test")]
async fn fresh_postgres() -> Store {
    let url = postgres_url();
    drop_stale_schemas(&url).await;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let options = StoreOptions { database_url: url, max_connections: 4, pg_schema: Some(schema) };
    let store = Store::connect(&options).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Best effort: drops test schemas whose UUIDv7 says they are over an hour old, so the test
/// database does not grow without bound. Errors (another test dropping the same schema) are
/// ignored.
async fn drop_stale_schemas(url: &str) {
    use sqlx::{Connection, Executor};
    let Ok(mut conn) = sqlx::PgConnection::connect(url).await else { return };
    let names: Vec<String> = sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 't\\_%'")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
    let cutoff = chrono::Utc::now().timestamp() - 3600;
    for name in names {
        let Ok(id) = uuid::Uuid::parse_str(&name[2..]) else { continue };
        let Some((seconds, _)) = id.get_timestamp().map(|ts| ts.to_unix()) else { continue };
        if i64::try_from(seconds).is_ok_and(|created| created < cutoff) {
            // `name` matched `t_` + a UUID, so it is a plain identifier.
            let _ = conn.execute(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE").as_str()).await;
        }
    }
    let _ = conn.close().await;
}

mod sqlite {
    use super::fresh_sqlite;

    auterity_store::store_conformance_suite!(fresh_sqlite());
}

mod postgres {
    use super::fresh_postgres;

    auterity_store::store_conformance_suite!(fresh_postgres());
}

mod backends {
    use super::*;
    use auterity_store::Backend;
    use auterity_store::conformance::prelude::{Effects, OrgScope, org, user};

    #[tokio::test]
    async fn each_backend_reports_itself_and_answers_ping() {
        let sqlite = fresh_sqlite().await;
        assert_eq!(sqlite.backend(), Backend::Sqlite);
        assert!(sqlite.sqlite_pool().is_some() && sqlite.pg_pool().is_none());
        sqlite.ping().await.unwrap();
        let postgres = fresh_postgres().await;
        assert_eq!(postgres.backend(), Backend::Postgres);
        assert!(postgres.pg_pool().is_some() && postgres.sqlite_pool().is_none());
        postgres.ping().await.unwrap();
        // Migrating again is a no-op.
        sqlite.migrate().await.unwrap();
        postgres.migrate().await.unwrap();
        postgres.close().await;
        assert!(postgres.ping().await.is_err(), "a closed store refuses work");
    }

    #[tokio::test]
    async fn sqlite_connections_are_durable_and_enforce_foreign_keys() {
        let store = fresh_sqlite().await;
        let pool = store.sqlite_pool().unwrap();
        // Several times: every pooled connection must carry the settings, not just the first.
        for _ in 0..3 {
            let mut conn = pool.acquire().await.unwrap();
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(journal, "wal");
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(synchronous, 2, "FULL");
            let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(foreign_keys, 1);
            let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(busy_timeout, 5000);
        }
    }

    #[tokio::test]
    async fn sqlite_keeps_a_committed_user_across_reconnect() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("durable.db").display());
        let options = StoreOptions { database_url: url, max_connections: 2, pg_schema: None };
        let org = org("durable");
        let ann = user(org.id, "ann");
        {
            let store = Store::connect(&options).await.unwrap();
            store.migrate().await.unwrap();
            store.orgs.create_org(&org, &Effects::none()).await.unwrap();
            store.users.create_user(OrgScope(org.id), &ann, &[], &Effects::none()).await.unwrap();
            // Dropped without `close`: a commit must not depend on a clean shutdown.
            drop(store);
        }
        let reopened = Store::connect(&options).await.unwrap();
        reopened.migrate().await.unwrap();
        assert_eq!(reopened.users.get_user(OrgScope(org.id), ann.id).await.unwrap(), Some(ann));
        assert_eq!(reopened.orgs.get_org_by_slug("durable").await.unwrap(), Some(org));
    }

    /// Writes cancelled at every point of their life (waiting for a connection, inside `BEGIN`,
    /// mid-statement, inside `COMMIT`) leave no pooled connection inside a transaction: afterwards
    /// every connection of the pool can start one, and a write goes through at once.
    #[expect(clippy::unwrap_used, clippy::expect_used, reason = "the scenario fails loudly")]
    async fn cancelled_writes_strand_no_connection(store: Store) {
        use std::time::Duration;
        for round in 0..150_u64 {
            let writes = (0..6_u64).map(|n| {
                let store = store.clone();
                let slug = format!("c{round}x{n}");
                // Deadlines spread over 0–700 µs: some fire before the begin, some inside it,
                // some after the commit.
                let deadline = Duration::from_micros((round * 97 + n * 131) % 700);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(deadline, store.orgs.create_org(&org(&slug), &Effects::none())).await;
                })
            });
            for write in writes.collect::<Vec<_>>() {
                write.await.unwrap();
            }
        }
        let (after, effects) = (org("after"), Effects::none());
        let done = tokio::time::timeout(Duration::from_secs(2), store.orgs.create_org(&after, &effects));
        done.await.expect("a write after cancellations must not wait on a stranded lock").unwrap();
        if let Some(pool) = store.sqlite_pool() {
            // Hold every connection at once, and start (then undo) a transaction on each.
            let mut conns = Vec::new();
            for _ in 0..pool.options().get_max_connections() {
                conns.push(pool.acquire().await.unwrap());
            }
            for conn in &mut conns {
                sqlx::query("BEGIN IMMEDIATE").execute(&mut **conn).await.expect("connection left in a transaction");
                sqlx::query("ROLLBACK").execute(&mut **conn).await.unwrap();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_writes_strand_no_sqlite_connection() {
        cancelled_writes_strand_no_connection(fresh_sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_writes_strand_no_postgres_connection() {
        cancelled_writes_strand_no_connection(fresh_postgres().await).await;
    }

    #[tokio::test]
    async fn bad_pg_schema_names_are_refused() {
        let options = StoreOptions {
            database_url: postgres_url(),
            max_connections: 1,
            pg_schema: Some("x\"; DROP TABLE users; --".to_owned()),
        };
        let err = Store::connect(&options).await.unwrap_err();
        assert!(matches!(err, auterity_store::StoreError::InvalidUrl(_)), "{err:?}");
    }

    /// Connections the server ended while they sat in the pool (a restart, an idle-killing proxy)
    /// are replaced at checkout instead of failing the next queries: a checkout pings a
    /// connection that sat idle for a second (the store skips the ping for connections in steady
    /// use; this test fails when the idle ping is off).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_connections_ended_while_idle_are_replaced() {
        use auterity_store::OrgScope;
        let store = fresh_postgres().await;
        let pool = store.pg_pool().unwrap().clone();
        let mut conns = Vec::new();
        let mut pids = Vec::new();
        for _ in 0..4 {
            let mut conn = pool.acquire().await.unwrap();
            pids.push(sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()").fetch_one(&mut *conn).await.unwrap());
            conns.push(conn);
        }
        drop(conns);
        let mut killer = <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_url()).await.unwrap();
        for pid in &pids {
            let ended: bool =
                sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&mut killer).await.unwrap();
            assert!(ended);
        }
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        // Every pooled connection is dead; each read still answers.
        let scope = OrgScope(auterity_types::OrgId(uuid::Uuid::now_v7()));
        for _ in 0..8 {
            let page = auterity_types::records::PageRequest::first(1);
            assert!(store.workflows.list_workflows(scope, false, page).await.unwrap().is_empty());
        }
    }

    /// Pooled PostgreSQL connections plan each statement once (its generic plan) rather than
    /// anew for each of its first five executions (`connect.rs`).
    #[tokio::test]
    async fn postgres_connections_plan_statements_once() {
        let store = fresh_postgres().await;
        let pool = store.pg_pool().unwrap().clone();
        for _ in 0..2 {
            let mut conn = pool.acquire().await.unwrap();
            let mode: String =
                sqlx::query_scalar("SELECT current_setting('plan_cache_mode')").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(mode, "force_generic_plan");
        }
    }
}
