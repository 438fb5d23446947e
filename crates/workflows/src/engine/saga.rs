//! Saga compensation. When a run fails, the `compensate` handlers of the step instances that
//! completed run one at a time, latest completion first; each handler is a step instance like any
//! other (claimed, retried, recorded). The run stays `running` with its original error recorded
//! (marked `compensating: true`) while they run, and ends `failed` with that error after the last one, whatever the handlers did.

use auterity_types::workflow_records::{RunChange, RunRecord, StepRecord, Transition, run_status, step_status};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::keys::{JOIN_SUFFIX, Scope, block_of, parse_key, step_in_scope};
use super::plan;
use crate::definition::{Step, WorkflowDefinition};

/// Marks the run error while handlers run (removed when the run fails for good).
const COMPENSATING: &str = "compensating";

fn compensating_error(mut error: Value) -> Value {
    if let Value::Object(map) = &mut error {
        map.insert(COMPENSATING.to_owned(), Value::Bool(true));
    }
    error
}

/// Whether the run is compensating (its handlers are running; it must not complete).
pub fn is_compensating(run: &RunRecord) -> bool {
    run.error.as_ref().and_then(|e| e.get(COMPENSATING)).and_then(Value::as_bool).unwrap_or(false)
}

/// The steps of the block `scope` is in.
fn block_steps<'a>(definition: &'a WorkflowDefinition, scope: &Scope) -> &'a [Step] {
    match scope {
        Scope::Top => &definition.steps,
        _ => block_of(definition, scope).map(|b| b.steps.as_slice()).unwrap_or_default(),
    }
}

/// The key of the handler that compensates step instance `key`, if its step declares one.
fn handler_key(definition: &WorkflowDefinition, key: &str) -> Option<String> {
    if key.ends_with(JOIN_SUFFIX) {
        return None;
    }
    let (scope, id) = parse_key(key);
    let handler = step_in_scope(definition, &scope, id)?.compensate.as_ref()?;
    Some(format!("{}{handler}", scope.prefix()))
}

/// Whether step instance `key` is a compensation handler (some step of its block names it).
pub fn is_handler(definition: &WorkflowDefinition, key: &str) -> bool {
    if key.ends_with(JOIN_SUFFIX) {
        return false;
    }
    let (scope, id) = parse_key(key);
    block_steps(definition, &scope).iter().any(|s| s.compensate.as_deref() == Some(id))
}

/// The handler to run next: of the completed step instances with a handler that has not been
/// started yet, the one that completed last (creation order breaks ties).
fn next_handler(definition: &WorkflowDefinition, steps: &[StepRecord]) -> Option<(String, String)> {
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status == step_status::COMPLETED)
        .filter_map(|(index, s)| handler_key(definition, &s.step_key).map(|handler| (index, s, handler)))
        .filter(|(_, _, handler)| !steps.iter().any(|other| other.step_key == *handler))
        .max_by_key(|(index, s, _)| (s.completed_at, *index))
        .map(|(_, _, handler)| {
            let (_, id) = parse_key(&handler);
            let id = id.to_owned();
            (handler, id)
        })
}

/// Step `failed` failed the run: if anything is to compensate, cancels the rest of the run,
/// records the original error and schedules the first handler (returns true); else false.
pub fn begin(
    definition: &WorkflowDefinition,
    run: &RunRecord,
    steps: &[StepRecord],
    failed: &StepRecord,
    error: &Value,
    now: DateTime<Utc>,
    transition: &mut Transition,
) -> bool {
    let Some((key, id)) = next_handler(definition, steps) else { return false };
    plan::cancel_open_steps(steps, &failed.step_key, now, transition);
    transition.run_status_in = super::control::unfinished_statuses();
    transition.run_change = Some(RunChange {
        status: run_status::RUNNING.to_owned(),
        output: None,
        error: Some(compensating_error(plan::run_error(&failed.step_key, error))),
        started_at: None,
        completed_at: None,
    });
    transition.events.push(plan::step_failed_event(run, &failed.step_key, &failed.step_id, error));
    transition.new_steps.push(plan::new_step(run, key, id, step_status::READY, 0, now));
    true
}

/// A handler ended: schedules the next one, or fails the run with its original error (returns true).
pub fn advance(
    definition: &WorkflowDefinition,
    run: &RunRecord,
    steps: &[StepRecord],
    now: DateTime<Utc>,
    transition: &mut Transition,
) -> bool {
    if let Some((key, id)) = next_handler(definition, steps) {
        transition.new_steps.push(plan::new_step(run, key, id, step_status::READY, 0, now));
        return false;
    }
    let failed_key = run.error.as_ref().and_then(|e| e.get("step")).and_then(Value::as_str).unwrap_or_default();
    let mut original = run.error.clone();
    if let Some(Value::Object(error)) = original.as_mut() {
        error.remove(COMPENSATING);
    }
    transition.run_status_in = super::control::unfinished_statuses();
    transition.run_change = Some(RunChange {
        status: run_status::FAILED.to_owned(),
        output: None,
        error: original,
        started_at: None,
        completed_at: Some(now),
    });
    transition.events.push(plan::run_failed_event(run, failed_key));
    true
}
