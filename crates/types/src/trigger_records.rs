//! Records of workflow triggers as the store persists them: one row per trigger declared by a
//! workflow's latest version (webhook, cron, event), and the durable receipts that make each
//! delivery (a signed webhook request, a cron tick, an event) start at most one run.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::OrgId;

/// Trigger kinds (`workflow_triggers.kind`).
pub mod trigger_kind {
    pub const WEBHOOK: &str = "webhook";
    pub const CRON: &str = "cron";
    pub const EVENT: &str = "event";
}

/// A trigger of a workflow, as declared by the version in `version`.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerRecord {
    pub workflow_id: Uuid,
    /// The trigger's `id` in the definition.
    pub trigger_id: String,
    pub org_id: OrgId,
    pub kind: String,
    /// The workflow version whose definition declared it.
    pub version: i32,
    /// The trigger's declaration, as written in the definition.
    pub config: serde_json::Value,
    /// Webhooks: the random id in `/api/hooks/{hook_id}`.
    pub hook_id: Option<Uuid>,
    /// Webhooks: the signing secret, encrypted under the master key.
    pub secret_encrypted: Option<String>,
    /// Cron: the next scheduled tick.
    pub next_fire_at: Option<DateTime<Utc>>,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Proof that one delivery was turned into a run; `(workflow_id, trigger_id, key)` is unique.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerReceipt {
    pub workflow_id: Uuid,
    pub trigger_id: String,
    /// `sig:<hex>` (webhook), `tick:<RFC 3339>` (cron), `event:<uuid>` (event).
    pub key: String,
    pub run_id: Uuid,
    /// When the receipt may be deleted (past the replay window); `None` keeps it.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A cron tick claimed with a conditional update: applies only while `next_fire_at` still equals
/// `expected` (so one of several workers wins the tick).
#[derive(Clone, Debug, PartialEq)]
pub struct CronAdvance {
    pub expected: DateTime<Utc>,
    pub next_fire_at: Option<DateTime<Utc>>,
}

/// Flow-control limits of one workflow, applied when pending runs are admitted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowLimits {
    /// Most runs of the workflow running (admitted and not finished) at once.
    pub concurrency: Option<i64>,
    /// Most running runs per concurrency key.
    pub key_concurrency: Option<i64>,
    /// Most runs admitted per concurrency key within `window`.
    pub key_rate: Option<(i64, chrono::Duration)>,
}
