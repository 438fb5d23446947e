//! The conformance suite every [`Store`](crate::Store) backend must pass, as a macro (Quickwit's
//! `metastore_test_suite!` pattern), plus the record builders its tests use.
//!
//! ```ignore
//! mod sqlite {
//!     auterity_store::store_conformance_suite!(crate::fresh_sqlite());
//! }
//! ```
//!
//! The argument is an expression evaluated once per test that yields a future of a fresh, migrated
//! `Store` (each test needs its own database or schema: the tests count rows). The expansion
//! defines one submodule per area (`orgs`, `users`, `tokens`, `api_keys`, `audit`, `outbox`,
//! `tenancy`, `workflows`, `workflow_queue`, `workflow_fast_paths`, `outbound`) with one
//! `#[tokio::test]` per behaviour, so the calling crate needs `tokio` with the `macros`, `rt` and
//! `rt-multi-thread` features (the concurrency tests run their tasks on several threads).

mod api_keys_audit_outbox;
mod orgs;
mod outbound;
mod tenancy;
mod tokens;
mod users;
mod workflow_builders;
mod workflow_fast_paths;
mod workflow_fixture;
mod workflow_queue;
mod workflows;

/// Generates the whole conformance suite in the calling module; see the module docs.
#[macro_export]
macro_rules! store_conformance_suite {
    ($make:expr) => {
        /// The store under test, fresh for every call.
        async fn __conformance_store() -> $crate::Store {
            $make.await
        }
        $crate::__store_conformance_orgs!();
        $crate::__store_conformance_users!();
        $crate::__store_conformance_tokens!();
        $crate::__store_conformance_api_keys_audit_outbox!();
        $crate::__store_conformance_tenancy!();
        $crate::__store_conformance_workflows!();
        $crate::__store_conformance_workflow_queue!();
        $crate::__store_conformance_workflow_fast_paths!();
        $crate::__store_conformance_outbound!();
    };
}

/// What the generated tests import: the records, the store's types, and the builders below.
pub mod prelude {
    pub use auterity_types::outbound_records::{OrgEgressSetting, SecretRecord, VariableRecord};
    pub use auterity_types::records::{
        AccessGrant, ApiKey, AuditEntry, Effects, Organization, OutboxRecord, PageRequest, RefreshToken, Team, User,
    };
    pub use auterity_types::trigger_records::TriggerReceipt;
    pub use auterity_types::workflow_records::{
        AttemptRecord, ClaimAfter, Committed, LeaseGuard, NewRun, RunChange, RunFilter, RunRecord, StepChange,
        StepRecord, Transition, WorkflowRecord, WorkflowVersion, run_status, step_status,
    };
    pub use auterity_types::{ApiKeyId, Level, OrgId, System, SystemEvent, TeamId, UserId};
    pub use chrono::{DateTime, Duration, Utc};
    pub use serde_json::{Value, json};
    pub use uuid::Uuid;

    pub use super::builders::*;
    pub use crate::{Backend, OrgScope, Store, StoreError};
}

/// Record builders with plausible values; every timestamp has microsecond precision, which both
/// dialects keep exactly.
pub mod builders {
    use auterity_types::records::{AccessGrant, ApiKey, AuditEntry, Organization, RefreshToken, Team, User};
    use auterity_types::{ApiKeyId, Level, OrgId, System, SystemEvent, TeamId, UserId, access::roles};
    use chrono::{DateTime, Duration, SubsecRound, Utc};
    use uuid::Uuid;

    pub use super::workflow_builders::*;

    /// Now, to the microsecond.
    pub fn now() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }

    pub fn org(slug: &str) -> Organization {
        Organization {
            id: OrgId::new(),
            name: format!("Dealer group {slug}"),
            slug: slug.to_owned(),
            created_at: now(),
        }
    }

    pub fn team(org: OrgId, name: &str) -> Team {
        Team { id: TeamId::new(), org_id: org, name: name.to_owned(), created_at: now() }
    }

    /// A user whose username is `login` and whose email is `login@example.com`.
    pub fn user(org: OrgId, login: &str) -> User {
        User {
            id: UserId::new(),
            org_id: org,
            email: format!("{login}@example.com"),
            username: login.to_owned(),
            password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${login}"),
            is_active: true,
            roles: vec![roles::MEMBER.to_owned()],
            mfa_secret: None,
            mfa_enabled: false,
            recovery_code_hashes: Vec::new(),
            tokens_valid_after: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    pub fn grant(system: System, level: Level) -> AccessGrant {
        AccessGrant { system, level, resources: Vec::new(), granted_at: Some(now()), granted_by: None }
    }

    /// A refresh token of `user` in `family` that expires `ttl` from now.
    pub fn refresh_token(user: &User, family: Uuid, token_hash: &str, ttl: Duration) -> RefreshToken {
        let created_at = now();
        RefreshToken {
            id: Uuid::now_v7(),
            user_id: user.id,
            org_id: user.org_id,
            family_id: family,
            token_hash: token_hash.to_owned(),
            created_at,
            expires_at: created_at + ttl,
            used_at: None,
            revoked_at: None,
        }
    }

    pub fn api_key(user: &User, prefix: &str) -> ApiKey {
        ApiKey {
            id: ApiKeyId::new(),
            org_id: user.org_id,
            user_id: user.id,
            name: format!("key {prefix}"),
            prefix: prefix.to_owned(),
            secret_hash: format!("sha256-of-{prefix}"),
            systems: vec![grant(System::Relaycore, Level::Write)],
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        }
    }

    pub fn audit(org: Option<OrgId>, action: &str) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            org_id: org,
            actor_id: None,
            action: action.to_owned(),
            target: Some("user:someone".to_owned()),
            ip: Some("192.0.2.7".to_owned()),
            details: serde_json::json!({ "reason": "conformance", "n": 1 }),
            created_at: now(),
        }
    }

    pub fn event(org: Option<OrgId>, event_type: &str) -> SystemEvent {
        let mut event = SystemEvent::new(event_type, "auth", org, serde_json::json!({ "k": [1, 2, 3] }));
        event.timestamp = now();
        event
    }
}
