//! Run completion, exactly once. When a result ends a run's last open path, the same transaction
//! schedules the run's finishing step (`#finish`, a key no definition step can have): the store
//! inserts it only if no other step is still open, with the run row locked, so of two paths ending
//! at once on two workers exactly one schedules it. A worker claims it like any step and commits
//! status, output, `workflow.run.completed|failed` and the `unified_executions` update in one
//! guarded transition (lease + run still unfinished). A crash in between leaves a ready or leased
//! `#finish` step that is claimed again, so a run is never left `running` with nothing to run.

use auterity_types::workflow_records::{
    AttemptRecord, LeaseGuard, RunChange, RunRecord, StepRecord, Transition, run_status, step_status,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Engine, context, control, plan};
use crate::definition::WorkflowDefinition;
use crate::expr::ValueTemplate;

/// The key of a run's finishing step (`#` never occurs in step ids).
pub const FINISH_KEY: &str = "#finish";

/// The finishing step a transition asks the store to insert when it ends the run's last path.
pub fn finish_step(run: &RunRecord, now: DateTime<Utc>) -> StepRecord {
    plan::new_step(run, FINISH_KEY.to_owned(), FINISH_KEY.to_owned(), step_status::READY, 0, now)
}

impl Engine {
    /// Executes a claimed `#finish` step: every other step of the run has ended and committed.
    pub(super) async fn finish(
        &self,
        definition: &WorkflowDefinition,
        run: &RunRecord,
        steps: &[StepRecord],
        step: &StepRecord,
        started_at: DateTime<Utc>,
    ) {
        let now = Utc::now();
        let guard =
            LeaseGuard { step_key: step.step_key.clone(), owner: self.config.owner.clone(), attempt: step.attempt };
        if super::saga::is_compensating(run) {
            // The compensation handlers end this run; a finishing step scheduled meanwhile retires.
            let retire = Transition {
                run_id: run.id,
                org_id: Some(run.org_id),
                guard: Some(guard),
                step_changes: vec![plan::set(FINISH_KEY, step_status::COMPLETED, None, None, None, now)],
                at: now,
                ..Transition::default()
            };
            if let Err(error) = self.committer.commit(retire).await {
                tracing::warn!(%error, run_id = %run.id, "failed to retire a finishing step");
            }
            return;
        }
        let mut context = context::build(run, steps, "");
        let super::OutsideValues { secrets, env, failed } = self.outside_values(definition, run).await;
        if failed.is_some() {
            // Logged; the finishing step's lease expires and it is claimed again.
            return;
        }
        context.secrets = secrets.clone();
        context.env = env;
        let (status, output, error) = match &definition.output {
            Some(template) => match ValueTemplate::compile(template).and_then(|t| t.render(&context)) {
                Ok(output) => (run_status::COMPLETED, Some(output), None),
                Err(e) => (run_status::FAILED, None, Some(json!({"error": format!("output: {e}")}))),
            },
            None => (run_status::COMPLETED, Some(serde_json::Value::Null), None),
        };
        let (step_state, event_type) = if status == run_status::COMPLETED {
            (step_status::COMPLETED, "workflow.run.completed")
        } else {
            (step_status::FAILED, "workflow.run.failed")
        };
        let transition = Transition {
            run_id: run.id,
            org_id: Some(run.org_id),
            guard: Some(guard),
            step_changes: vec![plan::set(FINISH_KEY, step_state, None, error.clone(), None, now)],
            attempt: Some(AttemptRecord {
                run_id: run.id,
                step_key: step.step_key.clone(),
                attempt: step.attempt,
                outcome: step_state.to_owned(),
                error: error.clone(),
                started_at,
                finished_at: now,
                worker: Some(self.config.owner.clone()),
            }),
            run_change: Some(RunChange {
                status: status.to_owned(),
                output: output.clone(),
                error,
                started_at: None,
                completed_at: Some(now),
            }),
            events: vec![plan::event(
                run,
                event_type,
                json!({"run_id": run.id, "workflow_id": run.workflow_id, "output": output}),
            )],
            at: now,
            run_status_in: control::unfinished_statuses(),
            ..Transition::default()
        };
        let mut transition = transition;
        super::redact::redact_transition(&mut transition, &secrets);
        match self.committer.commit(transition).await {
            Ok(true) => {
                metrics::counter!("auterity_workflow_runs_total", "status" => status).increment(1);
                self.wake_parent(run).await;
            }
            Ok(false) => {
                tracing::debug!(run_id = %run.id, "run completion discarded: lease lost or the run already ended");
            }
            Err(error) => {
                tracing::warn!(%error, run_id = %run.id, "failed to record run completion; it is retried after the lease");
            }
        }
    }
}
