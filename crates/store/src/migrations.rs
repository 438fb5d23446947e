//! Embedded schema migrations, one folder per dialect with the same numbering.
//!
//! The SQL files are compiled into the binary with `include_str!` and handed to sqlx's
//! [`Migrator`] through a small [`MigrationSource`], so no `sqlx::migrate!` macro is needed. Add a
//! migration to both folders and both lists below, with the same version and description.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// `(version, description, sql)` of one embedded migration.
type Embedded = (i64, &'static str, &'static str);

const SQLITE: &[Embedded] = &[
    (1, "init", include_str!("../migrations/sqlite/0001_init.sql")),
    (2, "workflows", include_str!("../migrations/sqlite/0002_workflows.sql")),
    (4, "run_control", include_str!("../migrations/sqlite/0004_run_control.sql")),
    (5, "triggers", include_str!("../migrations/sqlite/0005_triggers.sql")),
    (6, "outbound", include_str!("../migrations/sqlite/0006_outbound.sql")),
    (7, "hot_path_keys", include_str!("../migrations/sqlite/0007_hot_path_keys.sql")),
    (8, "variables", include_str!("../migrations/sqlite/0008_variables.sql")),
];

const POSTGRES: &[Embedded] = &[
    (1, "init", include_str!("../migrations/postgres/0001_init.sql")),
    (2, "workflows", include_str!("../migrations/postgres/0002_workflows.sql")),
    (4, "run_control", include_str!("../migrations/postgres/0004_run_control.sql")),
    (5, "triggers", include_str!("../migrations/postgres/0005_triggers.sql")),
    (6, "outbound", include_str!("../migrations/postgres/0006_outbound.sql")),
    (7, "hot_path_keys", include_str!("../migrations/postgres/0007_hot_path_keys.sql")),
    (8, "variables", include_str!("../migrations/postgres/0008_variables.sql")),
];

/// A [`MigrationSource`] over migrations embedded at compile time.
#[derive(Debug, Clone, Copy)]
struct EmbeddedSource(&'static [Embedded]);

impl MigrationSource<'static> for EmbeddedSource {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async move { Ok(to_migrations(self.0)) })
    }
}

fn to_migrations(embedded: &'static [Embedded]) -> Vec<Migration> {
    embedded
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, Cow::Borrowed(sql), false)
        })
        .collect()
}

/// The migrator for SQLite databases.
pub(crate) async fn sqlite_migrator() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(EmbeddedSource(SQLITE)).await
}

/// The migrator for PostgreSQL databases.
pub(crate) async fn postgres_migrator() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(EmbeddedSource(POSTGRES)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn versions(list: &[Embedded]) -> Vec<(i64, &'static str)> {
        list.iter().map(|&(version, description, _)| (version, description)).collect()
    }

    /// Table names created by a migration script, found by the `CREATE TABLE name` prefix.
    fn tables(sql: &str) -> BTreeSet<String> {
        sql.lines()
            .filter_map(|line| line.trim().strip_prefix("CREATE TABLE "))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn both_dialects_have_the_same_versions() {
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        let numbers: Vec<i64> = SQLITE.iter().map(|m| m.0).collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(numbers, sorted, "versions must be strictly increasing");
    }

    #[test]
    fn both_dialects_create_the_same_tables() {
        // Some migrations only alter tables; the first creates many (the parser sees them).
        assert!(!tables(SQLITE[0].2).is_empty());
        for (sqlite, postgres) in SQLITE.iter().zip(POSTGRES) {
            let (sqlite_tables, postgres_tables) = (tables(sqlite.2), tables(postgres.2));
            assert_eq!(sqlite_tables, postgres_tables, "migration {}", sqlite.0);
        }
    }

    #[tokio::test]
    async fn migrators_resolve_every_embedded_migration() {
        let sqlite = sqlite_migrator().await.unwrap();
        let postgres = postgres_migrator().await.unwrap();
        let sqlite_versions: Vec<i64> = sqlite.iter().map(|m| m.version).collect();
        let postgres_versions: Vec<i64> = postgres.iter().map(|m| m.version).collect();
        assert_eq!(sqlite_versions, postgres_versions);
        assert_eq!(sqlite_versions.len(), SQLITE.len());
    }
}
