//! The serde model of a definition's `triggers`: what, besides a manual start, starts a run —
//! a signed webhook, a cron schedule, or a `SystemEvent`. Runtime behaviour lives in
//! [`crate::triggers`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One trigger of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerDefinition {
    /// Unique among the workflow's triggers; an identifier.
    pub id: String,
    #[serde(flatten)]
    pub kind: TriggerKind,
    /// Priority of the runs it starts (higher first); default 0.
    #[serde(default)]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TriggerKind {
    /// `POST /api/hooks/{hook_id}` signed with the trigger's secret; the JSON body is the inputs.
    Webhook {},
    /// A cron pattern (5 fields, or 6 with seconds first) evaluated in `timezone` (IANA name,
    /// default UTC); every tick starts a run with `inputs`.
    Cron {
        schedule: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inputs: Option<Value>,
    },
    /// Every `SystemEvent` of `event_type` (of the workflow's organization) for which `filter`
    /// holds starts one run; `inputs` is a value template over `event` (default `{"event": event}`).
    Event {
        event_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inputs: Option<Value>,
    },
}

impl TriggerKind {
    pub const NAMES: [&'static str; 3] = ["webhook", "cron", "event"];

    pub fn name(&self) -> &'static str {
        match self {
            TriggerKind::Webhook {} => "webhook",
            TriggerKind::Cron { .. } => "cron",
            TriggerKind::Event { .. } => "event",
        }
    }
}
