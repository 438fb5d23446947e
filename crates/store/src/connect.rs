//! Opening a store: pick the dialect from the URL, build the pool, hand out the repositories.
//!
//! SQLite is tuned for durability first (WAL, `synchronous = FULL`: every commit is fsync'd);
//! PostgreSQL can be confined to one schema so that tests (and tenants of a shared server) do not
//! see each other.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, PgPool, SqlitePool};

use crate::flow_repos::FlowRepo;
use crate::outbound_repos::OutboundRepo;
use crate::repos::{ApiKeyRepo, AuditRepo, OrgRepo, OutboxRepo, ProviderRepo, TokenRepo, UserRepo};
use crate::trigger_repos::TriggerRepo;
use crate::workflow_repos::WorkflowRepo;
use crate::{StoreError, migrations, sql};

/// How long a caller waits for a pooled connection before `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A PostgreSQL connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);
/// How long SQLite waits on a lock held by another connection before `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The database dialect behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The backend a database URL names by its scheme (`sqlite:`, `postgres:`, `postgresql:`).
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            _ => Err(StoreError::InvalidUrl("expected a sqlite:, postgres: or postgresql: url".to_owned())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Store::connect`] needs.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// `sqlite:path/to/file.db` (created if missing) or `postgres://user@host/db`.
    pub database_url: String,
    pub max_connections: u32,
    /// PostgreSQL only: create this schema if missing and put it alone on every connection's
    /// `search_path`. Letters, digits and `_` only. Ignored for SQLite.
    pub pg_schema: Option<String>,
}

impl StoreOptions {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self { database_url: database_url.into(), max_connections: 8, pg_schema: None }
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open database with one handle per repository. Cheap to clone: every clone shares the pool.
#[derive(Clone)]
pub struct Store {
    pub orgs: Arc<dyn OrgRepo>,
    pub users: Arc<dyn UserRepo>,
    pub tokens: Arc<dyn TokenRepo>,
    pub api_keys: Arc<dyn ApiKeyRepo>,
    pub audit: Arc<dyn AuditRepo>,
    pub outbox: Arc<dyn OutboxRepo>,
    pub providers: Arc<dyn ProviderRepo>,
    pub workflows: Arc<dyn WorkflowRepo>,
    pub outbound: Arc<dyn OutboundRepo>,
    pub triggers: Arc<dyn TriggerRepo>,
    pub flow: Arc<dyn FlowRepo>,
    pool: Pool,
    /// SQLite's write connection (on PostgreSQL, writes share `pool`).
    writer: Option<SqlitePool>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend()).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool on the database the URL names. Does not migrate: call [`Store::migrate`].
    pub async fn connect(opts: &StoreOptions) -> Result<Store, StoreError> {
        let max_connections = opts.max_connections.max(1);
        match Backend::from_url(&opts.database_url)? {
            Backend::Sqlite => connect_sqlite(&opts.database_url, max_connections).await,
            Backend::Postgres => connect_postgres(&opts.database_url, max_connections, opts.pg_schema.as_deref()).await,
        }
    }

    /// Applies every pending migration of this dialect. Safe to run from several processes at once
    /// (sqlx takes a lock on PostgreSQL; SQLite serialises writers).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => migrations::sqlite_migrator().await?.run(pool).await?,
            Pool::Postgres(pool) => migrations::postgres_migrator().await?.run(pool).await?,
        }
        Ok(())
    }

    /// One round trip (`SELECT 1`), for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => pool.execute("SELECT 1").await.map(drop)?,
            Pool::Postgres(pool) => pool.execute("SELECT 1").await.map(drop)?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Waits for checked-out connections to return, then closes them all.
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// The raw SQLite pool, for areas that keep their own SQL (`None` on PostgreSQL).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool),
            Pool::Postgres(_) => None,
        }
    }

    /// The raw PostgreSQL pool, for areas that keep their own SQL (`None` on SQLite).
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }
}

async fn connect_sqlite(url: &str, max_connections: u32) -> Result<Store, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|err| StoreError::InvalidUrl(err.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    // No ping before each acquire: an embedded file cannot drop the connection, and the ping
    // doubled the per-query cost on the read path.
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.saturating_sub(1).max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await
        .map_err(unavailable)?;
    // SQLite has one writer at a time: write transactions wait for this connection in order.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(unavailable)?;
    let repos = Arc::new(sql::sqlite::SqlRepos::new(pool.clone(), writer.clone()));
    Ok(Store {
        orgs: repos.clone(),
        users: repos.clone(),
        tokens: repos.clone(),
        api_keys: repos.clone(),
        audit: repos.clone(),
        outbox: repos.clone(),
        providers: repos.clone(),
        outbound: repos.clone(),
        workflows: repos.clone(),
        triggers: repos.clone(),
        flow: repos,
        pool: Pool::Sqlite(pool),
        writer: Some(writer),
    })
}

async fn connect_postgres(url: &str, max_connections: u32, schema: Option<&str>) -> Result<Store, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|err| StoreError::InvalidUrl(err.to_string()))?;
    // A connection is pinged before use only when it sat idle for a while (a server restart or
    // an idle-killing proxy leaves dead ones behind), not at every checkout: the ping is a round
    // trip (0.06 ms median on loopback here) in front of every query.
    let mut pool_options = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        });
    let quoted = match schema {
        Some(schema) => {
            let quoted = quote_schema(schema)?;
            create_schema(&options, &quoted).await?;
            Some(quoted)
        }
        None => None,
    };
    pool_options = pool_options.after_connect(move |conn, _meta| {
        let quoted = quoted.clone();
        Box::pin(async move {
            // Every statement is planned once per connection (its generic plan), not anew for
            // each of its first five executions on every connection (PostgreSQL's plan cache
            // default): the engine's statements are fixed texts over arrays, whose custom plans
            // cost 0.5–2.8 ms each to plan here and are no better (`docs/benchmarks.md`,
            // AutoMatrix engine). A SET after connecting, not a startup option, which poolers
            // such as PgBouncer refuse.
            sqlx::Executor::execute(&mut *conn, "SET plan_cache_mode = force_generic_plan").await?;
            if let Some(quoted) = quoted {
                // A bound value, not interpolated SQL: `set_config` takes the path as a string.
                sqlx::query("SELECT set_config('search_path', $1, false)").bind(quoted).execute(conn).await?;
            }
            Ok(())
        })
    });
    let pool = pool_options.connect_with(options).await.map_err(unavailable)?;
    let repos = Arc::new(sql::postgres::SqlRepos::new(pool.clone(), pool.clone()));
    Ok(Store {
        orgs: repos.clone(),
        users: repos.clone(),
        tokens: repos.clone(),
        api_keys: repos.clone(),
        audit: repos.clone(),
        outbox: repos.clone(),
        providers: repos.clone(),
        outbound: repos.clone(),
        workflows: repos.clone(),
        triggers: repos.clone(),
        flow: repos,
        pool: Pool::Postgres(pool),
        writer: None,
    })
}

/// `CREATE SCHEMA IF NOT EXISTS` on a connection of its own, before the pool exists.
async fn create_schema(options: &PgConnectOptions, quoted: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(options).await.map_err(unavailable)?;
    // Identifiers cannot be bound; `quoted` passed `quote_schema`'s whitelist.
    let statement = format!("CREATE SCHEMA IF NOT EXISTS {quoted}");
    let created = conn.execute(statement.as_str()).await;
    // Two stores racing to create the same schema: the loser's unique violation is harmless.
    if let Err(err) = created {
        let raced = matches!(&err, sqlx::Error::Database(db) if db.is_unique_violation());
        if !raced {
            return Err(err.into());
        }
    }
    conn.close().await?;
    Ok(())
}

/// Validates a schema name (ASCII letters, digits, `_`; not starting with a digit; at most 63
/// bytes) and returns it double-quoted.
fn quote_schema(schema: &str) -> Result<String, StoreError> {
    let valid_chars = schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let starts_well = schema.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_chars || !starts_well || schema.len() > 63 {
        return Err(StoreError::InvalidUrl(format!("invalid postgres schema name: {schema:?}")));
    }
    Ok(format!("\"{schema}\""))
}

/// Connection failures at start-up mean the database is not there (yet), not that we are broken.
fn unavailable(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Configuration(_) => StoreError::InvalidUrl(err.to_string()),
        sqlx::Error::Database(_) => StoreError::Database(err),
        other => StoreError::Unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(Backend::from_url("sqlite:data.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(Backend::from_url("postgresql://u@h/db").unwrap(), Backend::Postgres);
        assert!(matches!(Backend::from_url("mysql://u@h/db"), Err(StoreError::InvalidUrl(_))));
        assert!(matches!(Backend::from_url("data.db"), Err(StoreError::InvalidUrl(_))));
        assert_eq!(Backend::Postgres.to_string(), "postgres");
        assert_eq!(Backend::Sqlite.to_string(), "sqlite");
    }

    #[test]
    fn schema_names_are_whitelisted() {
        assert_eq!(quote_schema("t_0123abc").unwrap(), "\"t_0123abc\"");
        for bad in ["", "1abc", "a-b", "a\"b", "a;drop", &"x".repeat(64)] {
            assert!(quote_schema(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn unknown_scheme_is_an_invalid_url() {
        let err = Store::connect(&StoreOptions::new("redis://localhost")).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidUrl(_)));
    }
}
