//! The `subworkflow` step: starts a child run of another workflow (version pinned when the step
//! starts) and waits for it. The child's id is derived from the parent run and step key, so a
//! step re-executed after a crash finds the child it already started instead of starting another.
//! A child that ends wakes its parent's step at once; a slow poll (`CHILD_POLL`) is the safety net
//! for a crash between the two.

use auterity_store::{OrgScope, StoreError};
use auterity_types::records::Effects;
use auterity_types::workflow_records::{RunRecord, run_status};
use chrono::Utc;
use serde_json::{Map, Value, json};
use std::time::Duration;
use uuid::Uuid;

use super::execute::StepCall;
use super::outcome::Outcome;
use super::{Engine, plan};
use crate::definition::{ErrorClass, SubworkflowStep, WorkflowDefinition};
use crate::expr::ValueTemplate;

/// How often a waiting subworkflow step re-checks its child if no wake-up came.
const CHILD_POLL: Duration = Duration::from_secs(120);

/// The id of the child run a step instance starts: stable across re-executions of the step.
pub fn child_run_id(parent: Uuid, step_key: &str) -> Uuid {
    Uuid::new_v5(&parent, step_key.as_bytes())
}

fn poll_at() -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(CHILD_POLL).unwrap_or_default()
}

impl Engine {
    pub(crate) async fn subworkflow(&self, call: &StepCall<'_>, step: &SubworkflowStep, run: &RunRecord) -> Outcome {
        let scope = OrgScope(run.org_id);
        let child_id = child_run_id(run.id, call.key);
        let existing = match self.store.workflows.get_run(scope, child_id).await {
            Ok(existing) => existing,
            Err(error) => return Outcome::failed(ErrorClass::Unavailable, format!("reading the child run: {error}")),
        };
        let child = match existing {
            Some(child) => child,
            None => match self.start_child(call, step, run, child_id).await {
                Ok(child) => child,
                Err(outcome) => return outcome,
            },
        };
        let memo = json!({"child_run_id": child.id, "workflow_id": child.workflow_id, "version": child.version});
        match child.status.as_str() {
            run_status::COMPLETED => Outcome::Completed { output: child.output.unwrap_or(Value::Null), next: None },
            run_status::FAILED | run_status::CANCELLED => Outcome::Failed {
                class: ErrorClass::ChildFailed,
                error: json!({
                    "class": ErrorClass::ChildFailed,
                    "message": format!("child run {} {}", child.id, child.status),
                    "child_run_id": child.id,
                    "child_error": child.error,
                }),
            },
            _ => Outcome::Wait { memo, wake_at: Some(poll_at()) },
        }
    }

    async fn start_child(
        &self,
        call: &StepCall<'_>,
        step: &SubworkflowStep,
        run: &RunRecord,
        child_id: Uuid,
    ) -> Result<RunRecord, Outcome> {
        let scope = OrgScope(run.org_id);
        let unavailable = |e: StoreError| Outcome::failed(ErrorClass::Unavailable, e.to_string());
        let workflow = match Uuid::parse_str(&step.workflow) {
            Ok(id) => self.store.workflows.get_workflow(scope, id).await,
            Err(_) => self.store.workflows.get_workflow_by_name(scope, &step.workflow).await,
        }
        .map_err(unavailable)?
        .filter(|w| w.is_active)
        .ok_or_else(|| Outcome::failed(ErrorClass::Internal, format!("no active workflow {:?}", step.workflow)))?;
        let version = step.version.map(|v| v as i32).unwrap_or(workflow.latest_version);
        let stored = self
            .store
            .workflows
            .get_workflow_version(scope, workflow.id, version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                Outcome::failed(ErrorClass::Internal, format!("workflow {:?} has no version {version}", step.workflow))
            })?;
        let definition: WorkflowDefinition = serde_json::from_value(stored.definition)
            .map_err(|e| Outcome::failed(ErrorClass::Internal, format!("child definition: {e}")))?;
        let mut inputs = Map::new();
        for (name, template) in &step.inputs {
            let value = ValueTemplate::compile(template)
                .and_then(|t| t.render(call.context))
                .map_err(|e| Outcome::failed(ErrorClass::Expression, format!("inputs.{name}: {e}")))?;
            inputs.insert(name.clone(), value);
        }
        let inputs = crate::validate_inputs(&definition, &Value::Object(inputs)).map_err(|errors| {
            let detail: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.pointer, e.detail)).collect();
            Outcome::failed(ErrorClass::Expression, format!("child inputs: {}", detail.join("; ")))
        })?;
        let start = plan::RunStart {
            id: child_id,
            org_id: run.org_id,
            workflow_id: workflow.id,
            version,
            inputs,
            priority: run.priority,
            concurrency_key: None,
            queued: false,
            parent: Some((run.id, call.key.to_owned())),
            correlation_id: run.correlation_id,
            trigger: "subworkflow".to_owned(),
            created_by: run.created_by,
            rerun_of: None,
        };
        let (child, steps, started) = plan::new_run(start, &definition, Utc::now());
        match self.store.workflows.create_run(&child, &steps, &Effects::none().event(started)).await {
            Ok(()) => {
                metrics::counter!("auterity_workflow_runs_total", "status" => "started").increment(1);
                self.notify();
                Ok(child)
            }
            // Started by an earlier attempt of this step that crashed before recording it.
            Err(StoreError::Conflict(_)) => self
                .store
                .workflows
                .get_run(scope, child_id)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| Outcome::failed(ErrorClass::Internal, "child run vanished")),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// A run ended: if it is a child, wake the parent's waiting step so it reads the result now.
    pub(crate) async fn wake_parent(&self, child: &RunRecord) {
        let (Some(parent_id), Some(parent_key)) = (child.parent_run_id, child.parent_step_key.as_deref()) else {
            return;
        };
        let scope = OrgScope(child.org_id);
        let Ok(Some(parent)) = self.store.workflows.get_run(scope, parent_id).await else { return };
        let Ok(waiting) = self.store.workflows.waiting_steps(scope, parent_id).await else { return };
        if let Some(step) = waiting.iter().find(|s| s.step_key == parent_key)
            && let Err(error) = self.signal(&parent, step, json!({"child_ended": true}), Vec::new()).await
        {
            tracing::warn!(%error, %parent_id, "waking the parent of a finished run failed; its poll will");
        }
    }
}
