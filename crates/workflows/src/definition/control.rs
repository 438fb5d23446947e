//! Step kinds that shape the flow: `condition`, `switch`, `parallel`, `foreach`, `delay`,
//! `wait_event`, `approval`, and [`Block`], the nested sub-graph of `parallel` and `foreach`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Step, StepTargets, entry_ids};
use crate::duration::WorkflowDuration;

/// A nested sub-graph: its own steps, entry rule and output. Its steps' `next` stay inside it;
/// a path ends where a step has no `next`, and the block ends when every path has ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Entry step(s); absent = the block's first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StepTargets>,
    pub steps: Vec<Step>,
    /// Value template of the block's result. Absent = the output of its only terminal step, or,
    /// with several terminal steps, an object of their outputs keyed by step id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

impl Block {
    pub fn entry_ids(&self) -> Vec<&str> {
        entry_ids(self.start.as_ref(), &self.steps)
    }
}

/// `condition`: routes to `then` when `if` is true, else to `else`. Output `{result: bool}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionStep {
    /// CEL expression yielding a bool.
    #[serde(rename = "if")]
    pub condition: String,
    #[serde(default, rename = "then", skip_serializing_if = "Option::is_none")]
    pub then_next: Option<StepTargets>,
    #[serde(default, rename = "else", skip_serializing_if = "Option::is_none")]
    pub else_next: Option<StepTargets>,
}

/// `switch`: routes to the first case whose `when` is true, else to `default`.
/// Output `{case: index | null}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchStep {
    pub cases: Vec<SwitchCase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<StepTargets>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchCase {
    /// CEL expression yielding a bool.
    pub when: String,
    pub next: StepTargets,
}

/// `parallel`: runs every branch concurrently; continues at `next` when all have ended.
/// Output: an object, branch name → branch output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParallelStep {
    pub branches: Vec<ParallelBranch>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParallelBranch {
    pub name: String,
    #[serde(flatten)]
    pub block: Block,
}

/// `foreach`: runs its body once per element of `items`, at most `concurrency` at a time.
/// Inside the body, `item` and `index` are the element and its position.
/// Output: the array of body outputs, in `items` order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForeachStep {
    /// CEL expression yielding a list.
    pub items: String,
    #[serde(default = "ForeachStep::default_concurrency")]
    pub concurrency: u32,
    #[serde(flatten)]
    pub body: Block,
}

impl ForeachStep {
    fn default_concurrency() -> u32 {
        1
    }
}

/// `delay`: waits a fixed `duration`, or `until` an instant. Output `{until: RFC 3339}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DelayStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<WorkflowDuration>,
    /// CEL expression yielding a timestamp or an RFC 3339 string; a past instant does not wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// `wait_event`: waits for a `SystemEvent` of `event_type` for which `filter` is true, at most
/// the step's `timeout`. Output: the event (`event_id`, `event_type`, `source_service`,
/// `correlation_id`, `timestamp`, `payload`); on timeout, routes to `on_timeout` with output `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaitEventStep {
    pub event_type: String,
    /// CEL expression over `event` (and the usual context) yielding a bool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<StepTargets>,
}

/// `approval`: waits for one of `approvers` to approve (→ `next`) or reject (→ `on_reject`)
/// through the API, at most the step's `timeout` (→ `on_timeout`).
/// Output `{decision, decided_by, comment, decided_at}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalStep {
    pub approvers: Approvers,
    /// String template shown to the approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_reject: Option<StepTargets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<StepTargets>,
}

/// Who may decide: anyone holding one of `roles` in the workflow's organization, or one of
/// `users` (user ids).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approvers {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::super::StepKind;
    use super::*;
    use serde_json::json;

    #[test]
    fn foreach_body_is_flattened() {
        let step: Step = serde_json::from_value(json!({
            "id": "each",
            "kind": "foreach",
            "items": "inputs.leads",
            "concurrency": 4,
            "steps": [{"id": "one", "kind": "transform", "output": "${item}"}],
            "output": "${steps.one.output}"
        }))
        .unwrap();
        let StepKind::Foreach(foreach) = &step.kind else { panic!("not a foreach") };
        assert_eq!(foreach.concurrency, 4);
        assert_eq!(foreach.body.steps.len(), 1);
        assert_eq!(foreach.body.entry_ids(), ["one"]);
        assert_eq!(serde_json::to_value(&step).unwrap()["steps"][0]["id"], "one");
    }

    #[test]
    fn condition_uses_if_then_else() {
        let step: Step = serde_json::from_value(json!({
            "id": "check", "kind": "condition", "if": "inputs.score > 50", "then": "hot", "else": ["cold", "log"]
        }))
        .unwrap();
        let StepKind::Condition(condition) = &step.kind else { panic!("not a condition") };
        assert_eq!(condition.condition, "inputs.score > 50");
        assert_eq!(condition.else_next.as_ref().unwrap().ids().count(), 2);
    }
}
