//! The serde model of a workflow definition (format `auterity.workflow/v1`, described in
//! `docs/workflow-format.md`). Plain data: shape is checked by the JSON Schema and meaning by
//! [`crate::validate`]; nothing here evaluates expressions.

mod actions;
mod control;
mod flow;
mod sites;
mod triggers;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use actions::{
    AiMessage, AiRole, AiStep, ExpectStatus, HttpMethod, HttpStep, McpToolStep, ModelStep, NotifyChannel, NotifyStep,
    ResponseFormat, ResponseFormatName, SubworkflowStep, TransformStep,
};
pub use control::{
    ApprovalStep, Approvers, Block, ConditionStep, DelayStep, ForeachStep, ParallelBranch, ParallelStep, SwitchCase,
    SwitchStep, WaitEventStep,
};
pub use flow::{FlowControl, parse_rate};
pub use sites::{Edge, EdgeKind, ExprForm, ExprSite, SitePlace};
pub(crate) use sites::{escape_token, value_template_sites};
pub use triggers::{TriggerDefinition, TriggerKind};

use crate::duration::WorkflowDuration;

/// The only format version so far; a definition without `format` is read as this one.
pub const FORMAT_V1: &str = "auterity.workflow/v1";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FormatVersion {
    #[default]
    #[serde(rename = "auterity.workflow/v1")]
    V1,
}

/// A whole workflow: typed inputs, a graph of steps, and an output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowDefinition {
    #[serde(default)]
    pub format: FormatVersion,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Input name → JSON Schema (draft 2020-12) of its value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Value>,
    /// Entry step(s); absent = the first step of `steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StepTargets>,
    pub steps: Vec<Step>,
    /// Value template of the run's result; absent = `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Limit on the whole run, start to finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<WorkflowDuration>,
    /// What starts runs besides a manual start (webhook, cron, event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerDefinition>,
    /// Concurrency and rate limits; absent = runs start at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowControl>,
}

impl WorkflowDefinition {
    /// The entry step ids: `start`, or the first step.
    pub fn entry_ids(&self) -> Vec<&str> {
        entry_ids(self.start.as_ref(), &self.steps)
    }

    /// Every step, nested ones included, depth first in document order.
    pub fn all_steps(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        collect_steps(&self.steps, &mut out);
        out
    }

    /// The step with this id, wherever it is nested.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.all_steps().into_iter().find(|step| step.id == id)
    }
}

fn collect_steps<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
    for step in steps {
        out.push(step);
        for block in step.kind.blocks() {
            collect_steps(&block.steps, out);
        }
    }
}

pub(crate) fn entry_ids<'a>(start: Option<&'a StepTargets>, steps: &'a [Step]) -> Vec<&'a str> {
    match start {
        Some(targets) => targets.ids().collect(),
        None => steps.first().map(|step| vec![step.id.as_str()]).unwrap_or_default(),
    }
}

/// One step id or several: `"next": "a"` or `"next": ["a", "b"]` (fan-out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StepTargets {
    One(String),
    Many(Vec<String>),
}

impl StepTargets {
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        let slice = match self {
            StepTargets::One(id) => std::slice::from_ref(id),
            StepTargets::Many(ids) => ids.as_slice(),
        };
        slice.iter().map(String::as_str)
    }

    /// JSON pointer suffix of the `index`-th id, relative to the field holding the targets.
    pub(crate) fn pointer_suffix(&self, index: usize) -> String {
        match self {
            StepTargets::One(_) => String::new(),
            StepTargets::Many(_) => format!("/{index}"),
        }
    }
}

/// One node of the graph: the fields every kind shares, and the kind's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Successor(s) on success; absent = this path ends here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<StepTargets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Start-to-close limit of one attempt; for `wait_event` and `approval`, how long to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<WorkflowDuration>,
    /// Id of the step that undoes this one if the run fails after it completed (saga).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<String>,
    /// String template; the engine sends it as `Idempotency-Key` (http) and uses it to dedupe.
    /// Absent = `<run id>:<step id>`, stable across retries of the step in the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(flatten)]
    pub kind: StepKind,
}

/// The kind-specific part of a step, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    Http(HttpStep),
    Ai(AiStep),
    Model(ModelStep),
    McpTool(McpToolStep),
    Transform(TransformStep),
    Condition(ConditionStep),
    Switch(SwitchStep),
    Parallel(ParallelStep),
    Foreach(ForeachStep),
    Delay(DelayStep),
    WaitEvent(WaitEventStep),
    Approval(ApprovalStep),
    Subworkflow(SubworkflowStep),
    Notify(NotifyStep),
}

impl StepKind {
    /// All kind names, as written in `kind`.
    pub const NAMES: [&'static str; 14] = [
        "http",
        "ai",
        "model",
        "mcp_tool",
        "transform",
        "condition",
        "switch",
        "parallel",
        "foreach",
        "delay",
        "wait_event",
        "approval",
        "subworkflow",
        "notify",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Http(_) => "http",
            StepKind::Ai(_) => "ai",
            StepKind::Model(_) => "model",
            StepKind::McpTool(_) => "mcp_tool",
            StepKind::Transform(_) => "transform",
            StepKind::Condition(_) => "condition",
            StepKind::Switch(_) => "switch",
            StepKind::Parallel(_) => "parallel",
            StepKind::Foreach(_) => "foreach",
            StepKind::Delay(_) => "delay",
            StepKind::WaitEvent(_) => "wait_event",
            StepKind::Approval(_) => "approval",
            StepKind::Subworkflow(_) => "subworkflow",
            StepKind::Notify(_) => "notify",
        }
    }

    /// Nested sub-graphs: the `parallel` branches in order, or the `foreach` body.
    pub fn blocks(&self) -> Vec<&Block> {
        self.blocks_with_pointers().into_iter().map(|(_, block)| block).collect()
    }

    /// Nested sub-graphs with the pointer of each, relative to the step (the body of a
    /// `foreach` is flattened into the step, so its pointer is empty).
    pub fn blocks_with_pointers(&self) -> Vec<(String, &Block)> {
        match self {
            StepKind::Parallel(parallel) => parallel
                .branches
                .iter()
                .enumerate()
                .map(|(index, branch)| (format!("/branches/{index}"), &branch.block))
                .collect(),
            StepKind::Foreach(foreach) => vec![(String::new(), &foreach.body)],
            _ => Vec::new(),
        }
    }
}

/// Classes of step failure, the vocabulary of `retry.retry_on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The attempt exceeded its `timeout`.
    Timeout,
    /// Connection refused/reset, DNS, TLS: the request may not have arrived.
    Network,
    /// HTTP 429 from a target.
    #[serde(rename = "http_429")]
    Http429,
    /// Any other HTTP 4xx outside `expect_status`.
    #[serde(rename = "http_4xx")]
    Http4xx,
    /// HTTP 5xx outside `expect_status`.
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// A platform limit (AI gateway budget or rate limit) said "later".
    RateLimited,
    /// A dependency (AI provider, model deployment, MCP server, SMTP) is unavailable.
    Unavailable,
    /// An expression failed to evaluate (type error, missing key, limit).
    Expression,
    /// An approval was rejected without `on_reject`.
    Rejected,
    /// A subworkflow run failed.
    ChildFailed,
    /// The egress policy refused the call (host, address or redirect target). Never retried.
    EgressDenied,
    /// A response exceeded `egress.max_response_bytes`.
    ResponseTooLarge,
    /// Anything else.
    Internal,
    /// Matches every class; only meaningful in `retry_on`.
    Any,
}

/// Retry with exponential backoff: attempt n ≥ 2 waits
/// `min(max_backoff, initial_backoff × multiplier^(n-2))`, spread by ±`jitter` × that delay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    #[serde(default = "RetryPolicy::default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "RetryPolicy::default_initial_backoff")]
    pub initial_backoff: WorkflowDuration,
    #[serde(default = "RetryPolicy::default_max_backoff")]
    pub max_backoff: WorkflowDuration,
    #[serde(default = "RetryPolicy::default_multiplier")]
    pub multiplier: f64,
    #[serde(default = "RetryPolicy::default_jitter")]
    pub jitter: f64,
    #[serde(default = "RetryPolicy::default_retry_on")]
    pub retry_on: Vec<ErrorClass>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: Self::default_max_attempts(),
            initial_backoff: Self::default_initial_backoff(),
            max_backoff: Self::default_max_backoff(),
            multiplier: Self::default_multiplier(),
            jitter: Self::default_jitter(),
            retry_on: Self::default_retry_on(),
        }
    }
}

impl RetryPolicy {
    fn default_max_attempts() -> u32 {
        3
    }
    fn default_initial_backoff() -> WorkflowDuration {
        WorkflowDuration::ONE_SECOND
    }
    fn default_max_backoff() -> WorkflowDuration {
        WorkflowDuration::ONE_MINUTE
    }
    fn default_multiplier() -> f64 {
        2.0
    }
    fn default_jitter() -> f64 {
        0.2
    }
    fn default_retry_on() -> Vec<ErrorClass> {
        vec![
            ErrorClass::Timeout,
            ErrorClass::Network,
            ErrorClass::Http429,
            ErrorClass::Http5xx,
            ErrorClass::RateLimited,
            ErrorClass::Unavailable,
        ]
    }

    /// Whether a failure of this class may be retried (attempts left aside).
    pub fn retries(&self, class: ErrorClass) -> bool {
        // An egress refusal is a policy decision, not a transient failure: not even `any` retries it.
        class != ErrorClass::EgressDenied
            && self.retry_on.iter().any(|listed| *listed == ErrorClass::Any || *listed == class)
    }

    /// The wait before `attempt` (2 = first retry). `jitter_sample` in [-1, 1] comes from the
    /// caller's random source, so the computation itself stays deterministic and testable.
    pub fn backoff_before_attempt(&self, attempt: u32, jitter_sample: f64) -> Duration {
        let exponent = attempt.saturating_sub(2).min(64);
        let initial = self.initial_backoff.as_std().as_secs_f64();
        let max = self.max_backoff.as_std().as_secs_f64();
        let base = (initial * self.multiplier.powi(exponent as i32)).min(max);
        let spread = base * self.jitter * jitter_sample.clamp(-1.0, 1.0);
        Duration::from_secs_f64((base + spread).clamp(0.0, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_round_trips_with_flattened_kind() {
        let value = json!({
            "id": "fetch",
            "kind": "http",
            "method": "GET",
            "url": "https://crm.example/leads/${inputs.lead_id}",
            "next": ["a", "b"],
            "retry": {"max_attempts": 5},
            "timeout": "30s"
        });
        let step: Step = serde_json::from_value(value).unwrap();
        assert_eq!(step.kind.name(), "http");
        assert_eq!(step.next.as_ref().unwrap().ids().collect::<Vec<_>>(), ["a", "b"]);
        let retry = step.retry.as_ref().unwrap();
        assert_eq!(retry.max_attempts, 5);
        assert_eq!(retry.multiplier, 2.0);
        let back = serde_json::to_value(&step).unwrap();
        assert_eq!(back["kind"], "http");
        assert_eq!(back["timeout"], "30s");
        assert_eq!(back["next"], json!(["a", "b"]));
    }

    #[test]
    fn format_defaults_to_v1() {
        let definition: WorkflowDefinition =
            serde_json::from_value(json!({"name": "x", "steps": [{"id": "a", "kind": "transform", "output": 1}]}))
                .unwrap();
        assert_eq!(definition.format, FormatVersion::V1);
        assert_eq!(serde_json::to_value(definition.format).unwrap(), json!(FORMAT_V1));
        assert_eq!(definition.entry_ids(), ["a"]);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let policy = RetryPolicy { jitter: 0.5, ..RetryPolicy::default() };
        assert_eq!(policy.backoff_before_attempt(2, 0.0), Duration::from_secs(1));
        assert_eq!(policy.backoff_before_attempt(3, 0.0), Duration::from_secs(2));
        assert_eq!(policy.backoff_before_attempt(4, 1.0), Duration::from_secs(6));
        assert_eq!(policy.backoff_before_attempt(40, 0.0), Duration::from_secs(60));
        assert_eq!(policy.backoff_before_attempt(40, 1.0), Duration::from_secs(60));
        assert!(policy.retries(ErrorClass::Http5xx));
        assert!(!policy.retries(ErrorClass::Http4xx));
        let any = RetryPolicy { retry_on: vec![ErrorClass::Any], ..RetryPolicy::default() };
        assert!(any.retries(ErrorClass::Http4xx));
        let classes: Vec<ErrorClass> = serde_json::from_value(json!(["http_429", "http_4xx", "http_5xx"])).unwrap();
        assert_eq!(classes, [ErrorClass::Http429, ErrorClass::Http4xx, ErrorClass::Http5xx]);
    }
}
