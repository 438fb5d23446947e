//! Turns an outcome into the transition that records it: successors, joins, retries, failure;
//! and lays out the rows of a new run.

use auterity_types::SystemEvent;
use auterity_types::workflow_records::{
    AttemptRecord, LeaseGuard, RunChange, RunRecord, StepChange, StepRecord, Transition, run_status, step_status,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::keys::{Scope, join_key, parse_key, step_id_of_key, step_in_scope, target_ids};
use super::outcome::Outcome;
use crate::definition::{StepKind, WorkflowDefinition};

/// What starts a run (API, trigger, re-run, or a `subworkflow` step), for [`new_run`].
pub struct RunStart {
    pub id: uuid::Uuid,
    pub org_id: auterity_types::OrgId,
    pub workflow_id: uuid::Uuid,
    pub version: i32,
    /// Validated against the version's input schemas.
    pub inputs: Value,
    pub priority: i32,
    pub concurrency_key: Option<String>,
    /// Flow-controlled: waits as `pending` until admitted.
    pub queued: bool,
    /// The parent run and step key of a child run.
    pub parent: Option<(uuid::Uuid, String)>,
    pub correlation_id: uuid::Uuid,
    pub trigger: String,
    pub created_by: auterity_types::UserId,
    pub rerun_of: Option<uuid::Uuid>,
}

/// The rows of a new run: the run, its entry steps (ready), and `workflow.run.started`
/// (`workflow.run.queued` when it waits for admission).
pub fn new_run(
    start: RunStart,
    definition: &WorkflowDefinition,
    now: DateTime<Utc>,
) -> (RunRecord, Vec<StepRecord>, SystemEvent) {
    let (parent_run_id, parent_step_key) = start.parent.unzip();
    let run = RunRecord {
        id: start.id,
        org_id: start.org_id,
        workflow_id: start.workflow_id,
        version: start.version,
        status: if start.queued { run_status::PENDING } else { run_status::RUNNING }.to_owned(),
        inputs: start.inputs,
        output: None,
        error: None,
        priority: start.priority,
        concurrency_key: start.concurrency_key,
        parent_run_id,
        parent_step_key,
        rerun_of: start.rerun_of,
        correlation_id: start.correlation_id,
        trigger: start.trigger,
        created_by: start.created_by,
        created_at: now,
        started_at: (!start.queued).then_some(now),
        completed_at: None,
        updated_at: now,
    };
    let steps = definition
        .entry_ids()
        .into_iter()
        .map(|id| new_step(&run, id.to_owned(), id.to_owned(), step_status::READY, 0, now))
        .collect();
    let event_type = if start.queued { "workflow.run.queued" } else { "workflow.run.started" };
    let event = event(&run, event_type, run_started_payload(&run));
    (run, steps, event)
}

/// The payload of `workflow.run.started` and `workflow.run.queued`.
pub fn run_started_payload(run: &RunRecord) -> Value {
    json!({"run_id": run.id, "workflow_id": run.workflow_id, "version": run.version, "priority": run.priority,
        "concurrency_key": run.concurrency_key, "rerun_of": run.rerun_of, "parent_run_id": run.parent_run_id})
}

pub fn new_step(
    run: &RunRecord,
    key: String,
    step_id: String,
    status: &str,
    remaining: i32,
    now: DateTime<Utc>,
) -> StepRecord {
    StepRecord {
        run_id: run.id,
        step_key: key,
        step_id,
        org_id: run.org_id,
        status: status.to_owned(),
        attempt: 0,
        remaining,
        input: None,
        output: None,
        error: None,
        priority: run.priority,
        ready_at: (status == step_status::READY).then_some(now),
        wake_at: None,
        lease_owner: None,
        lease_expires_at: None,
        started_at: None,
        completed_at: None,
        updated_at: now,
    }
}

pub fn set(
    key: &str,
    status: &str,
    output: Option<Value>,
    error: Option<Value>,
    ready_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StepChange {
    let terminal =
        matches!(status, step_status::COMPLETED | step_status::FAILED | step_status::SKIPPED | step_status::CANCELLED);
    StepChange::Set {
        step_key: key.to_owned(),
        status: status.to_owned(),
        output,
        error,
        ready_at,
        wake_at: None,
        completed_at: terminal.then_some(now),
    }
}

pub fn event(run: &RunRecord, event_type: &str, payload: Value) -> SystemEvent {
    SystemEvent::new(event_type, "autmatrix", Some(run.org_id), payload).with_correlation(run.correlation_id, None)
}

/// What finishing `key` sets in motion: steps to start, a join to arrive at, or the end of a
/// top-level path (`true`).
pub fn successors(
    definition: &WorkflowDefinition,
    run: &RunRecord,
    steps: &[StepRecord],
    key: &str,
    next_override: Option<Vec<String>>,
    now: DateTime<Utc>,
    transition: &mut Transition,
) -> bool {
    let (scope, id) = parse_key(key);
    let declared = step_in_scope(definition, &scope, id).map(|s| target_ids(s.next.as_ref())).unwrap_or_default();
    let targets = next_override.unwrap_or(declared);
    if !targets.is_empty() {
        for target in targets {
            transition.new_steps.push(new_step(
                run,
                format!("{}{target}", scope.prefix()),
                target,
                step_status::READY,
                0,
                now,
            ));
        }
        return false;
    }
    match &scope {
        Scope::Top => true,
        Scope::Branch { container_key, .. } => {
            transition.step_changes.push(StepChange::ArriveAtJoin { step_key: join_key(container_key), at: now });
            false
        }
        Scope::Item { container_key, index } => {
            transition.step_changes.push(StepChange::ArriveAtJoin { step_key: join_key(container_key), at: now });
            // Keep `concurrency` items in flight: the item that ended makes room for the next.
            if let Some(StepKind::Foreach(foreach)) = definition.step(step_id_of_key(container_key)).map(|s| &s.kind) {
                let items = steps
                    .iter()
                    .find(|s| s.step_key == *container_key)
                    .and_then(|s| s.output.as_ref())
                    .and_then(|o| o.get("items"))
                    .and_then(Value::as_array)
                    .map(Vec::len)
                    .unwrap_or(0);
                let next_index = index + foreach.concurrency.max(1) as usize;
                if next_index < items {
                    let next_scope = Scope::Item { container_key: container_key.clone(), index: next_index };
                    for entry in foreach.body.entry_ids() {
                        transition.new_steps.push(new_step(
                            run,
                            format!("{}{entry}", next_scope.prefix()),
                            entry.to_owned(),
                            step_status::READY,
                            0,
                            now,
                        ));
                    }
                }
            }
            false
        }
    }
}

pub struct Planned {
    /// When it ends a top-level path it carries the run's finishing step (`finish_step`).
    pub transition: Transition,
    pub run_failed: bool,
}

/// The run a step belongs to, as loaded for one attempt.
pub struct RunState<'a> {
    pub definition: &'a WorkflowDefinition,
    pub run: &'a RunRecord,
    pub steps: &'a [StepRecord],
    pub owner: &'a str,
}

/// The transition recording `outcome` for the claimed `step`.
pub fn plan(
    state: &RunState<'_>,
    step: &StepRecord,
    outcome: Outcome,
    started_at: DateTime<Utc>,
    jitter_sample: f64,
) -> Planned {
    let RunState { definition, run, steps, owner } = *state;
    let now = Utc::now();
    let mut transition = Transition {
        run_id: run.id,
        org_id: Some(run.org_id),
        guard: Some(LeaseGuard { step_key: step.step_key.clone(), owner: owner.to_owned(), attempt: step.attempt }),
        at: now,
        ..Transition::default()
    };
    let attempt = |outcome_name: &str, error: Option<Value>| AttemptRecord {
        run_id: run.id,
        step_key: step.step_key.clone(),
        attempt: step.attempt,
        outcome: outcome_name.to_owned(),
        error,
        started_at,
        finished_at: now,
        worker: Some(owner.to_owned()),
    };
    let (scope, id) = parse_key(&step.step_key);
    let step_def = step_in_scope(definition, &scope, id);
    let mut path_ended = false;
    let mut run_failed = false;
    match outcome {
        Outcome::Completed { output, .. } if step.step_key.ends_with(super::keys::JOIN_SUFFIX) => {
            // A join fired: the container completes with the collected outputs and continues.
            let container_key = step.step_key.trim_end_matches(super::keys::JOIN_SUFFIX);
            transition.step_changes.push(set(&step.step_key, step_status::COMPLETED, None, None, None, now));
            transition.step_changes.push(set(container_key, step_status::COMPLETED, Some(output), None, None, now));
            path_ended = successors(definition, run, steps, container_key, None, now, &mut transition);
            transition.attempt = Some(attempt("completed", None));
        }
        Outcome::Completed { output, .. } if super::saga::is_handler(definition, &step.step_key) => {
            // A compensation handler finished: the next one, or the end of the failed run.
            transition.step_changes.push(set(&step.step_key, step_status::COMPLETED, Some(output), None, None, now));
            transition.attempt = Some(attempt("completed", None));
            run_failed = super::saga::advance(definition, run, steps, now, &mut transition);
        }
        Outcome::Completed { output, next } => {
            transition.step_changes.push(set(&step.step_key, step_status::COMPLETED, Some(output), None, None, now));
            path_ended = successors(definition, run, steps, &step.step_key, next, now, &mut transition);
            transition.attempt = Some(attempt("completed", None));
        }
        Outcome::Wait { memo, wake_at } => {
            transition.step_changes.push(StepChange::Set {
                step_key: step.step_key.clone(),
                status: step_status::WAITING.to_owned(),
                output: Some(memo),
                error: None,
                ready_at: None,
                wake_at,
                completed_at: None,
            });
            if run.status == run_status::RUNNING {
                // Guarded: a run paused meanwhile stays paused (the step is claimed again later).
                transition.run_status_in = vec![run_status::RUNNING.to_owned()];
                transition.run_change = Some(RunChange {
                    status: run_status::WAITING.to_owned(),
                    output: None,
                    error: run.error.clone(),
                    started_at: None,
                    completed_at: None,
                });
            }
            transition.attempt = Some(attempt("waiting", None));
        }
        Outcome::Sleep { until, memo } => {
            transition.step_changes.push(set(&step.step_key, step_status::READY, Some(memo), None, Some(until), now));
            transition.attempt = Some(attempt("sleeping", None));
        }
        Outcome::Expand { memo, remaining, start } => {
            transition.step_changes.push(set(&step.step_key, step_status::WAITING, Some(memo), None, None, now));
            transition.new_steps.push(new_step(
                run,
                join_key(&step.step_key),
                step.step_id.clone(),
                step_status::PENDING,
                remaining,
                now,
            ));
            for (key, step_id) in start {
                transition.new_steps.push(new_step(run, key, step_id, step_status::READY, 0, now));
            }
            transition.attempt = Some(attempt("expanded", None));
        }
        Outcome::Failed { class, error } => {
            let policy = step_def.and_then(|s| s.retry.clone());
            let retry = policy.as_ref().filter(|p| (step.attempt as u32) < p.max_attempts && p.retries(class));
            if let Some(policy) = retry {
                let wait = policy.backoff_before_attempt(step.attempt as u32 + 1, jitter_sample);
                let ready_at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                transition.step_changes.push(set(
                    &step.step_key,
                    step_status::READY,
                    None,
                    Some(error.clone()),
                    Some(ready_at),
                    now,
                ));
                transition.attempt = Some(attempt("retrying", Some(error)));
            } else {
                transition.step_changes.push(set(
                    &step.step_key,
                    step_status::FAILED,
                    None,
                    Some(error.clone()),
                    None,
                    now,
                ));
                transition.attempt = Some(attempt("failed", Some(error.clone())));
                if super::saga::is_handler(definition, &step.step_key) {
                    // A failed handler does not stop the others; the run keeps its original error.
                    run_failed = super::saga::advance(definition, run, steps, now, &mut transition);
                } else if super::saga::begin(definition, run, steps, step, &error, now, &mut transition) {
                    // Compensation started; the run fails once its handlers have run.
                } else {
                    fail_run(run, steps, &step.step_key, &step.step_id, error, now, &mut transition);
                    run_failed = true;
                }
            }
        }
    }
    if path_ended {
        // Completion is scheduled atomically with the result that ended the last path.
        transition.finish_step = Some(super::finish::finish_step(run, now));
    }
    Planned { transition, run_failed }
}

/// Marks the run failed and cancels whatever else was still to run.
pub fn fail_run(
    run: &RunRecord,
    steps: &[StepRecord],
    failed_key: &str,
    failed_id: &str,
    error: Value,
    now: DateTime<Utc>,
    transition: &mut Transition,
) {
    cancel_open_steps(steps, failed_key, now, transition);
    // Exactly one failure (or completion, or cancellation) ends a run.
    transition.run_status_in = super::control::unfinished_statuses();
    transition.run_change = Some(RunChange {
        status: run_status::FAILED.to_owned(),
        output: None,
        error: Some(run_error(failed_key, &error)),
        started_at: None,
        completed_at: Some(now),
    });
    transition.events.push(step_failed_event(run, failed_key, failed_id, &error));
    transition.events.push(run_failed_event(run, failed_key));
}

/// The run's `error` when step `failed_key` failed it.
pub fn run_error(failed_key: &str, error: &Value) -> Value {
    json!({"step": failed_key, "error": error})
}

pub fn step_failed_event(run: &RunRecord, failed_key: &str, failed_id: &str, error: &Value) -> SystemEvent {
    event(
        run,
        "workflow.step.failed",
        json!({"run_id": run.id, "step": failed_key, "step_id": failed_id, "error": error}),
    )
}

pub fn run_failed_event(run: &RunRecord, failed_key: &str) -> SystemEvent {
    event(run, "workflow.run.failed", json!({"run_id": run.id, "workflow_id": run.workflow_id, "step": failed_key}))
}

/// Cancels every step instance still to run except `failed_key`.
pub fn cancel_open_steps(steps: &[StepRecord], failed_key: &str, now: DateTime<Utc>, transition: &mut Transition) {
    for other in steps {
        if other.step_key != failed_key && step_status::OPEN.contains(&other.status.as_str()) {
            // What the step was doing is kept, so retrying the run can put it back.
            transition.step_changes.push(set(
                &other.step_key,
                step_status::CANCELLED,
                other.output.clone(),
                Some(super::control::cancelled_by_failure(other)),
                None,
                now,
            ));
        }
    }
}
