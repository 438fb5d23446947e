//! Triggers: what starts runs besides a manual start — signed webhooks, cron schedules with time
//! zones, and system events — declared in a definition's `triggers` and stored per workflow.
//! Every delivery becomes at most one run: its receipt is written in the run's transaction.
//! Flow control (`flow`: concurrency, per-key concurrency and rate) admits pending runs.

pub mod flow;
pub mod schedule;
pub mod service;
pub mod signature;
pub mod sync;
pub mod worker;

pub use service::{TriggerError, TriggerService, TriggerSettings, TriggerState};
pub use sync::NewWebhookSecret;
