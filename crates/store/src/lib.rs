//! Persistence for Auterity on two dialects: SQLite (embedded default, WAL) and PostgreSQL.
//!
//! One trait per area (`repos`), one implementation per dialect compiled from the same source
//! (`sql/`), one conformance suite (`conformance`) run unchanged against both. Tenant-owned data is
//! always reached through an [`OrgScope`]: the scope is applied in SQL here, never in handlers.
//!
//! Timestamps are kept to the microsecond on both dialects (PostgreSQL's precision): a value with
//! nanoseconds reads back truncated. A refused scoped write (`false` or `NotFound`) writes none of
//! its `Effects`.

pub mod conformance;
mod connect;
mod error;
pub mod flow_repos;
mod migrations;
pub mod outbound_repos;
pub mod repos;
mod sql;
pub mod trigger_repos;
pub mod workflow_repos;

pub use connect::{Backend, Store, StoreOptions};
pub use error::StoreError;
pub use flow_repos::FlowRepo;
pub use outbound_repos::OutboundRepo;
pub use repos::{ApiKeyRepo, AuditRepo, OrgRepo, OrgScope, OutboxRepo, ProviderRepo, TokenRepo, UserRepo};
pub use trigger_repos::TriggerRepo;
pub use workflow_repos::WorkflowRepo;
