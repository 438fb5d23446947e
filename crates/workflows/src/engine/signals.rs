//! The outside signals a person or a system sends to a run through the API: an approval decision
//! and an event. Both end a wait durably (see [`super::waits`]).

use auterity_store::OrgScope;
use auterity_types::SystemEvent;
use auterity_types::workflow_records::{RunRecord, run_status, step_status};
use auterity_types::{OrgId, UserId};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::keys::{parse_key, step_in_scope};
use super::plan;
use super::service::{WorkflowError, WorkflowService};
use crate::definition::StepKind;

/// Who decides an approval.
pub struct Decider<'a> {
    pub user: UserId,
    pub roles: &'a [String],
}

impl WorkflowService {
    /// Approves (or rejects) the waiting `approval` step `step` (its key or id) of a run, recording
    /// who decided, when and why. `Conflict` when the step is not waiting for a decision (already
    /// decided, timed out, never reached), `Forbidden` when the caller is not one of its approvers.
    pub async fn decide(
        &self,
        org: OrgId,
        decider: Decider<'_>,
        run_id: Uuid,
        step: &str,
        approve: bool,
        comment: Option<String>,
    ) -> Result<RunRecord, WorkflowError> {
        let scope = OrgScope(org);
        let run = self.store().workflows.get_run(scope, run_id).await?.ok_or(WorkflowError::NotFound("run"))?;
        let steps = self.store().workflows.list_steps(scope, run_id).await?;
        let found = steps
            .iter()
            .filter(|s| s.step_key == step || s.step_id == step)
            .find(|s| s.status == step_status::WAITING)
            .or_else(|| steps.iter().find(|s| s.step_key == step || s.step_id == step));
        let Some(target) = found else { return Err(WorkflowError::NotFound("step")) };
        let definition = self.engine().definition(&run).await.map_err(WorkflowError::Conflict)?;
        let (step_scope, id) = parse_key(&target.step_key);
        let Some(StepKind::Approval(approval)) = step_in_scope(&definition, &step_scope, id).map(|s| &s.kind) else {
            return Err(WorkflowError::Conflict(format!("step {step:?} is not an approval step")));
        };
        let waiting_for_decision = target.status == step_status::WAITING
            && target.output.as_ref().and_then(|m| m.get("waiting_for")).and_then(Value::as_str) == Some("approval");
        if !waiting_for_decision {
            return Err(WorkflowError::Conflict(format!(
                "step {:?} is not waiting for a decision (it is {})",
                target.step_key, target.status
            )));
        }
        let approvers = &approval.approvers;
        let open_to_all = approvers.users.is_empty() && approvers.roles.is_empty();
        let named = approvers.users.iter().any(|u| u == &decider.user.0.to_string())
            || approvers.roles.iter().any(|r| decider.roles.contains(r));
        if !(open_to_all || named) {
            return Err(WorkflowError::Forbidden("you are not one of this step's approvers".into()));
        }
        let decision = if approve { "approved" } else { "rejected" };
        let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let fields = json!({"decision": decision, "by": decider.user.0, "at": at, "comment": comment});
        let recorded = plan::event(
            &run,
            &format!("workflow.step.{decision}"),
            json!({"run_id": run.id, "step": target.step_key, "by": decider.user.0, "comment": comment}),
        );
        if !self.engine().signal(&run, target, fields, vec![recorded]).await? {
            return Err(WorkflowError::Conflict(format!("step {:?} was decided meanwhile", target.step_key)));
        }
        self.store().workflows.get_run(scope, run_id).await?.ok_or(WorkflowError::NotFound("run"))
    }

    /// Sends an event to a run: delivered to its `wait_event` steps waiting for that type whose
    /// filter accepts it. Returns the keys of the steps it was delivered to (possibly none).
    pub async fn send_event(
        &self,
        org: OrgId,
        run_id: Uuid,
        event_type: &str,
        data: Value,
    ) -> Result<Vec<String>, WorkflowError> {
        let scope = OrgScope(org);
        let run = self.store().workflows.get_run(scope, run_id).await?.ok_or(WorkflowError::NotFound("run"))?;
        if run_status::TERMINAL.contains(&run.status.as_str()) {
            return Err(WorkflowError::Conflict(format!("the run is already {}", run.status)));
        }
        let event = SystemEvent::new(event_type, "api", Some(org), data).with_correlation(run.correlation_id, None);
        Ok(self.engine().deliver_event(&run, &event).await?)
    }
}
