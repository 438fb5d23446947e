//! Run control: pause, resume, retry from the failed step(s), re-run with new inputs, and the
//! per-step attempt history. Every change is one transition guarded on the run's current status
//! (the store locks the run row), so an invalid or raced transition changes nothing and answers
//! `Conflict`.
//!
//! A paused run has status `paused`: claims only take steps of `running` runs, so nothing new
//! starts; steps already executing finish and their results (and successors) commit, and the
//! successors wait. If the last path ends while paused, the run completes on resume.

use auterity_store::OrgScope;
use auterity_types::UserId;
use auterity_types::workflow_records::{
    AttemptRecord, RunChange, RunRecord, StepChange, StepRecord, Transition, run_status, step_status,
};
use auterity_types::{OrgId, records::PageRequest};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::finish::{FINISH_KEY, finish_step};
use super::plan;
use super::service::{StartRun, WorkflowError, WorkflowService};
use crate::definition::WorkflowDefinition;

/// Statuses of a run that has not ended.
pub fn unfinished_statuses() -> Vec<String> {
    [run_status::PENDING, run_status::RUNNING, run_status::WAITING, run_status::PAUSED]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The `error` of a step cancelled because another step failed the run: what it was doing, so a
/// retry can put it back.
pub fn cancelled_by_failure(step: &StepRecord) -> Value {
    json!({
        "cancelled_by": "run_failure",
        "status_before": step.status,
        "wake_at": step.wake_at,
        "remaining": step.remaining,
    })
}

/// The change that puts a step back to where it was before the run failed, if it needs one.
fn restore(step: &StepRecord, now: DateTime<Utc>) -> Option<StepChange> {
    let ready = |step: &StepRecord| StepChange::Set {
        step_key: step.step_key.clone(),
        status: step_status::READY.to_owned(),
        output: step.output.clone(),
        error: None,
        ready_at: Some(now),
        wake_at: None,
        completed_at: None,
    };
    match step.status.as_str() {
        step_status::FAILED => Some(ready(step)),
        step_status::CANCELLED => {
            let before = step.error.as_ref().filter(|e| e["cancelled_by"] == "run_failure")?;
            match before["status_before"].as_str()? {
                step_status::READY | step_status::RUNNING => Some(ready(step)),
                status @ (step_status::PENDING | step_status::WAITING) => Some(StepChange::Set {
                    step_key: step.step_key.clone(),
                    status: status.to_owned(),
                    output: step.output.clone(),
                    error: None,
                    ready_at: None,
                    wake_at: serde_json::from_value(before["wake_at"].clone()).ok().flatten(),
                    completed_at: None,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

fn status_change(status: &str) -> RunChange {
    RunChange { status: status.to_owned(), output: None, error: None, started_at: None, completed_at: None }
}

impl WorkflowService {
    /// Commits `transition` (guarded on the run's status); `Conflict` when the guard failed.
    async fn commit_control(&self, transition: Transition, what: &str) -> Result<(), WorkflowError> {
        if self.engine.committer().commit(transition).await? {
            Ok(())
        } else {
            Err(WorkflowError::Conflict(format!("the run changed meanwhile; it cannot be {what} now")))
        }
    }

    pub(super) async fn control_target(
        &self,
        org: OrgId,
        run_id: Uuid,
    ) -> Result<(RunRecord, Vec<StepRecord>), WorkflowError> {
        let scope = OrgScope(org);
        let run = self.store.workflows.get_run(scope, run_id).await?.ok_or(WorkflowError::NotFound("run"))?;
        let steps = self.store.workflows.list_steps(scope, run_id).await?;
        Ok((run, steps))
    }

    /// Stops claiming the run's steps; in-flight steps finish.
    pub async fn pause(&self, org: OrgId, actor: UserId, run_id: Uuid) -> Result<RunRecord, WorkflowError> {
        let (run, _) = self.control_target(org, run_id).await?;
        if !matches!(run.status.as_str(), run_status::PENDING | run_status::RUNNING | run_status::WAITING) {
            return Err(WorkflowError::Conflict(format!("a {} run cannot be paused", run.status)));
        }
        let now = Utc::now();
        let transition = Transition {
            run_id,
            org_id: Some(org),
            run_change: Some(status_change(run_status::PAUSED)),
            events: vec![plan::event(&run, "workflow.run.paused", json!({"run_id": run_id, "paused_by": actor}))],
            at: now,
            run_status_in: vec![run_status::PENDING.into(), run_status::RUNNING.into(), run_status::WAITING.into()],
            ..Transition::default()
        };
        self.commit_control(transition, "paused").await?;
        self.get_run_record(org, run_id).await
    }

    /// Lets a paused run's steps be claimed again.
    pub async fn resume(&self, org: OrgId, actor: UserId, run_id: Uuid) -> Result<RunRecord, WorkflowError> {
        let (run, _) = self.control_target(org, run_id).await?;
        if run.status != run_status::PAUSED {
            return Err(WorkflowError::Conflict(format!("a {} run cannot be resumed", run.status)));
        }
        // A run paused before flow control admitted it (it never started) waits for admission again.
        let back_to = if run.started_at.is_none() { run_status::PENDING } else { run_status::RUNNING };
        let transition = Transition {
            run_id,
            org_id: Some(org),
            run_change: Some(status_change(back_to)),
            events: vec![plan::event(&run, "workflow.run.resumed", json!({"run_id": run_id, "resumed_by": actor}))],
            at: Utc::now(),
            run_status_in: vec![run_status::PAUSED.into()],
            ..Transition::default()
        };
        self.commit_control(transition, "resumed").await?;
        self.engine.notify();
        self.get_run_record(org, run_id).await
    }

    /// Continues a failed run from its failed step(s): completed steps keep their outputs and are
    /// not run again; steps the failure cancelled are put back; attempt numbers continue (a retried
    /// step gets one more attempt, then its own retry policy counts from its attempt number).
    pub async fn retry(&self, org: OrgId, actor: UserId, run_id: Uuid) -> Result<RunRecord, WorkflowError> {
        let (run, steps) = self.control_target(org, run_id).await?;
        if run.status != run_status::FAILED {
            return Err(WorkflowError::Conflict(format!(
                "only a failed run can be retried; this one is {}",
                run.status
            )));
        }
        let now = Utc::now();
        let step_changes: Vec<StepChange> = steps.iter().filter_map(|step| restore(step, now)).collect();
        let retried: Vec<&str> =
            steps.iter().filter(|s| s.status == step_status::FAILED).map(|s| s.step_key.as_str()).collect();
        let transition = Transition {
            run_id,
            org_id: Some(org),
            step_changes,
            run_change: Some(status_change(run_status::RUNNING)),
            events: vec![plan::event(
                &run,
                "workflow.run.retried",
                json!({"run_id": run_id, "retried_by": actor, "steps": retried}),
            )],
            at: now,
            run_status_in: vec![run_status::FAILED.into()],
            // A run that failed with nothing left to retry finishes again (and fails again if its
            // output still cannot be computed).
            finish_step: Some(finish_step(&run, now)),
            ..Transition::default()
        };
        self.commit_control(transition, "retried").await?;
        metrics::counter!("auterity_workflow_runs_total", "status" => "retried").increment(1);
        self.engine.notify();
        self.get_run_record(org, run_id).await
    }

    /// A new run of the same pinned version, with `inputs` (the original run's when `None`).
    pub async fn rerun(
        &self,
        org: OrgId,
        user: UserId,
        run_id: Uuid,
        inputs: Option<Value>,
    ) -> Result<RunRecord, WorkflowError> {
        let scope = OrgScope(org);
        let original = self.store.workflows.get_run(scope, run_id).await?.ok_or(WorkflowError::NotFound("run"))?;
        let version = self
            .store
            .workflows
            .get_workflow_version(scope, original.workflow_id, original.version)
            .await?
            .ok_or(WorkflowError::NotFound("workflow version"))?;
        let definition: WorkflowDefinition = serde_json::from_value(version.definition)
            .map_err(|e| WorkflowError::Invalid(vec![auterity_types::error::FieldError::new("", e.to_string())]))?;
        let request = StartRun {
            inputs: inputs.unwrap_or_else(|| original.inputs.clone()),
            trigger: "rerun".into(),
            priority: original.priority,
        };
        self.launch(org, user, original.workflow_id, original.version, &definition, request, Some(run_id)).await
    }

    /// One step's attempts, in order, a page at a time.
    pub async fn step_attempts(
        &self,
        org: OrgId,
        run_id: Uuid,
        step_key: &str,
        after_attempt: Option<i32>,
        page: PageRequest,
    ) -> Result<Vec<AttemptRecord>, WorkflowError> {
        let (_, steps) = self.control_target(org, run_id).await?;
        if step_key == FINISH_KEY || !steps.iter().any(|s| s.step_key == step_key) {
            return Err(WorkflowError::NotFound("step"));
        }
        Ok(self.store.workflows.list_step_attempts(OrgScope(org), run_id, step_key, after_attempt, page.limit).await?)
    }

    async fn get_run_record(&self, org: OrgId, run_id: Uuid) -> Result<RunRecord, WorkflowError> {
        self.store.workflows.get_run(OrgScope(org), run_id).await?.ok_or(WorkflowError::NotFound("run"))
    }
}
