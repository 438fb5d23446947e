//! Triggers: what starts runs besides a manual start — signed webhooks, cron schedules with time
//! zones, and system events — declared in a definition's `triggers` and stored per workflow.
//! Every delivery becomes at most one run: its receipt is written in the run's transaction.

pub mod schedule;
pub mod service;
pub mod signature;
pub mod sync;
pub mod worker;

pub use service::{TriggerError, TriggerService, TriggerSettings, TriggerState};
pub use sync::NewWebhookSecret;
