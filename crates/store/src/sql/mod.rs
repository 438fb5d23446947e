//! The SQL implementation of every repository trait, written once and compiled per dialect.
//!
//! The files `common.rs`, `orgs.rs`, `users.rs`, `tokens.rs`, `api_keys.rs`, `audit.rs`,
//! `outbox.rs`, `providers.rs`, `workflows.rs`, `workflow_queue.rs`, `workflow_batch.rs`,
//! `run_starts.rs`, `outbound.rs`, `triggers.rs` and `flow.rs` are not modules: they
//! are `include!`d into both [`sqlite`] and [`postgres`], where `Db` names the sqlx database. The
//! SQL uses `$n` placeholders (SQLite accepts them, and a repeated `$n` is one parameter in both)
//! and features both dialects share (`RETURNING`, `ON CONFLICT … DO UPDATE`, partial indexes,
//! savepoints). Where they must differ, the code branches on `DIALECT`; the bulk statements of
//! group commits, which differ throughout (multi-row `VALUES` lists on SQLite, array parameters
//! on PostgreSQL, whose statements then keep one text and one cached plan), are each dialect's own
//! file, `bulk_sqlite.rs` and `bulk_postgres.rs` (its one-statement transitions in
//! `transitions_postgres.rs`), with the same functions. Included files cannot
//! carry `//!` docs or `use` lines of their own; imports live in [`prelude`].

use auterity_types::records::PageRequest;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::error::DatabaseError;

use crate::StoreError;

/// Which SQL dialect a compiled copy of the repositories speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// Imports shared by every included file.
mod prelude {
    pub(super) use async_trait::async_trait;
    pub(super) use auterity_types::outbound_records::{OrgEgressSetting, SecretRecord, VariableRecord};
    pub(super) use auterity_types::records::{
        AccessGrant, AiProvider, ApiKey, AuditEntry, Effects, Organization, OutboxRecord, PageRequest, RefreshToken,
        Team, User,
    };
    pub(super) use auterity_types::trigger_records::{CronAdvance, FlowLimits, TriggerReceipt, TriggerRecord};
    pub(super) use auterity_types::workflow_records::{
        AttemptRecord, ClaimAfter, Committed, NewRun, RunChange, RunFilter, RunRecord, StepChange, StepRecord,
        Transition, WorkflowRecord, WorkflowVersion,
    };
    pub(super) use auterity_types::{ApiKeyId, Level, OrgId, System, SystemEvent, TeamId, UserId};
    pub(super) use chrono::{DateTime, Utc};
    pub(super) use sqlx::types::Json;
    pub(super) use sqlx::{QueryBuilder, Row};
    pub(super) use std::collections::HashSet;
    pub(super) use uuid::Uuid;

    pub(super) use super::{Dialect, at, map_write_error, page_limit};
    pub(super) use crate::StoreError;
    pub(super) use crate::flow_repos::FlowRepo;
    pub(super) use crate::outbound_repos::OutboundRepo;
    pub(super) use crate::repos::{
        ApiKeyRepo, AuditRepo, OrgRepo, OrgScope, OutboxRepo, ProviderRepo, TokenRepo, UserRepo,
    };
    pub(super) use crate::trigger_repos::TriggerRepo;
    pub(super) use crate::workflow_repos::WorkflowRepo;
}

/// The repositories on SQLite.
pub(crate) mod sqlite {
    use super::prelude::*;

    type Db = sqlx::Sqlite;
    type DbRow = sqlx::sqlite::SqliteRow;
    const DIALECT: Dialect = Dialect::Sqlite;

    include!("common.rs");
    include!("orgs.rs");
    include!("users.rs");
    include!("tokens.rs");
    include!("api_keys.rs");
    include!("audit.rs");
    include!("outbox.rs");
    include!("providers.rs");
    include!("workflows.rs");
    include!("bulk_sqlite.rs");
    include!("workflow_queue.rs");
    include!("workflow_batch.rs");
    include!("run_starts.rs");
    include!("outbound.rs");
    include!("triggers.rs");
    include!("flow.rs");
}

/// The repositories on PostgreSQL.
pub(crate) mod postgres {
    use super::prelude::*;

    type Db = sqlx::Postgres;
    type DbRow = sqlx::postgres::PgRow;
    const DIALECT: Dialect = Dialect::Postgres;

    include!("common.rs");
    include!("orgs.rs");
    include!("users.rs");
    include!("tokens.rs");
    include!("api_keys.rs");
    include!("audit.rs");
    include!("outbox.rs");
    include!("providers.rs");
    include!("workflows.rs");
    include!("bulk_postgres.rs");
    include!("transitions_postgres.rs");
    include!("workflow_queue.rs");
    include!("workflow_batch.rs");
    include!("run_starts.rs");
    include!("outbound.rs");
    include!("triggers.rs");
    include!("flow.rs");
}

/// A timestamp as both dialects keep it: PostgreSQL stores microseconds, so SQLite is given the
/// same precision and a value reads back identically from either.
pub(crate) fn at(timestamp: DateTime<Utc>) -> DateTime<Utc> {
    timestamp.trunc_subsecs(6)
}

/// The SQL `LIMIT` for a page, clamped to `1..=PageRequest::MAX_LIMIT`.
pub(crate) fn page_limit(page: PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, PageRequest::MAX_LIMIT))
}

/// Maps constraint violations of a write to the domain's errors: unique → `Conflict`, foreign key
/// → `NotFound` (the referenced row does not exist); anything else stays a database error.
pub(crate) fn map_write_error(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(conflict_detail(db.as_ref()).to_owned());
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound("a referenced record does not exist".to_owned());
        }
    }
    StoreError::Database(err)
}

/// A readable reason for a unique violation. PostgreSQL names the constraint or index; SQLite
/// names the columns in its message (`UNIQUE constraint failed: users.email_lower`).
fn conflict_detail(db: &dyn DatabaseError) -> &'static str {
    let constraint = db.constraint().unwrap_or_default();
    let message = db.message();
    let mentions = |needle: &str| constraint.contains(needle) || message.contains(needle);
    if mentions("email") {
        "email already in use"
    } else if mentions("username") {
        "username already taken"
    } else if mentions("slug") {
        "organization slug already taken"
    } else if mentions("workflows") {
        "workflow name already used in this organization"
    } else if mentions("teams") {
        "team name already used in this organization"
    } else if mentions("prefix") {
        "api key prefix already exists"
    } else if mentions("token_hash") {
        "refresh token already exists"
    } else if mentions("event_id") {
        "event already recorded"
    } else {
        "record already exists"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_keep_microseconds() {
        let precise = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(at(precise).timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn page_limits_are_clamped() {
        assert_eq!(page_limit(PageRequest { limit: 0, after: None }), 1);
        assert_eq!(page_limit(PageRequest { limit: 10, after: None }), 10);
        assert_eq!(page_limit(PageRequest { limit: 100_000, after: None }), i64::from(PageRequest::MAX_LIMIT));
    }
}
