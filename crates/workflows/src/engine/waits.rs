//! Steps that wait for something outside the run: `approval` (a person decides through the API)
//! and `wait_event` (a matching `SystemEvent`), and the signals that end a wait.
//!
//! A waiting step is `waiting` in the database with a memo as its output and its deadline as
//! `wake_at`, so waits survive restarts. A signal (decision, event, deadline, a child run's end)
//! is one transaction that applies only while the step is still `waiting`: it writes what
//! arrived into the memo and makes the step `ready`. The step's next attempt reads the memo and
//! completes, routes or fails. A signal therefore applies at most once, and once committed it is
//! never lost.

use auterity_store::{OrgScope, StoreError};
use auterity_types::workflow_records::{
    RunChange, RunRecord, StepChange, StepRecord, Transition, run_status, step_status,
};
use auterity_types::{OrgId, SystemEvent};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::execute::StepCall;
use super::keys::{parse_key, step_in_scope};
use super::outcome::Outcome;
use super::{Engine, context, plan};
use crate::definition::{ApprovalStep, ErrorClass, StepKind, StepTargets, WaitEventStep};
use crate::expr::{Expression, Template};

/// How many expired waits one sweep wakes.
const SWEEP_BATCH: u32 = 256;

fn targets(next: &StepTargets) -> Vec<String> {
    next.ids().map(str::to_owned).collect()
}

/// The deadline of a wait: kept in the memo once set, so a re-executed first phase keeps it.
fn deadline(call: &StepCall<'_>) -> Option<DateTime<Utc>> {
    if let Some(at) = call.memo.and_then(|m| m.get("deadline")).and_then(Value::as_str) {
        return DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Utc));
    }
    let timeout = call.step.timeout?;
    Some(call.now + chrono::Duration::milliseconds(timeout.as_std().as_millis().min(i64::MAX as u128) as i64))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn timed_out(call: &StepCall<'_>) -> bool {
    call.memo.and_then(|m| m.get("timed_out")).and_then(Value::as_bool).unwrap_or(false)
}

/// The outcome of a wait whose deadline passed: `on_timeout`, or a `timeout` failure.
fn timeout_outcome(on_timeout: Option<&StepTargets>, what: &str) -> Outcome {
    match on_timeout {
        Some(next) => Outcome::Completed { output: Value::Null, next: Some(targets(next)) },
        None => Outcome::failed(ErrorClass::Timeout, format!("no {what} before the step's timeout")),
    }
}

pub fn approval(call: &StepCall<'_>, step: &ApprovalStep) -> Outcome {
    let memo = call.memo.cloned().unwrap_or(Value::Null);
    if let Some(decision) = memo.get("decision").and_then(Value::as_str) {
        let approved = decision == "approved";
        let output = json!({
            "approved": approved,
            "decision": decision,
            "decided_by": memo.get("by"),
            "decided_at": memo.get("at"),
            "comment": memo.get("comment"),
        });
        return match (&step.on_reject, approved) {
            (_, true) => Outcome::Completed { output, next: None },
            (Some(on_reject), false) => Outcome::Completed { output, next: Some(targets(on_reject)) },
            (None, false) => Outcome::Failed {
                class: ErrorClass::Rejected,
                error: json!({"class": ErrorClass::Rejected, "message": "the approval was rejected", "decision": output}),
            },
        };
    }
    if timed_out(call) {
        return timeout_outcome(step.on_timeout.as_ref(), "decision");
    }
    let message = match &step.message {
        Some(source) => match Template::parse(source).and_then(|t| t.render_string(call.context)) {
            Ok(text) => Some(text),
            Err(e) => return Outcome::failed(ErrorClass::Expression, format!("message: {e}")),
        },
        None => None,
    };
    let wake_at = deadline(call);
    let memo = json!({
        "waiting_for": "approval",
        "message": message,
        "approvers": step.approvers,
        "deadline": wake_at.map(rfc3339),
    });
    Outcome::Wait { memo, wake_at }
}

pub fn wait_event(call: &StepCall<'_>, step: &WaitEventStep) -> Outcome {
    if let Some(event) = call.memo.and_then(|m| m.get("event")) {
        return Outcome::Completed { output: event.clone(), next: None };
    }
    if timed_out(call) {
        return timeout_outcome(step.on_timeout.as_ref(), "matching event");
    }
    let wake_at = deadline(call);
    let memo = json!({"waiting_for": "event", "event_type": step.event_type, "deadline": wake_at.map(rfc3339)});
    Outcome::Wait { memo, wake_at }
}

/// The JSON an expression (and the step's output) sees of an event.
pub fn event_json(event: &SystemEvent) -> Value {
    json!({
        "event_id": event.event_id,
        "event_type": event.event_type,
        "source_service": event.source_service,
        "correlation_id": event.correlation_id,
        "timestamp": rfc3339(event.timestamp),
        "payload": event.payload,
    })
}

/// Adds `fields` to a step's memo.
fn with_fields(memo: Option<&Value>, fields: Value) -> Value {
    let mut merged = match memo {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    if let Value::Object(fields) = fields {
        merged.extend(fields);
    }
    Value::Object(merged)
}

impl Engine {
    /// Ends the wait of `step` (which must still be `waiting`) with `fields` added to its memo:
    /// the step becomes ready, a `waiting` run running again. `Ok(false)` when the step was no
    /// longer waiting (another signal came first).
    pub(crate) async fn signal(
        &self,
        run: &RunRecord,
        step: &StepRecord,
        fields: Value,
        events: Vec<SystemEvent>,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let mut transition = Transition {
            run_id: run.id,
            org_id: Some(run.org_id),
            expect_status: Some((step.step_key.clone(), step_status::WAITING.to_owned())),
            at: now,
            events,
            ..Transition::default()
        };
        transition.step_changes.push(StepChange::Set {
            step_key: step.step_key.clone(),
            status: step_status::READY.to_owned(),
            output: Some(with_fields(step.output.as_ref(), fields)),
            error: None,
            ready_at: Some(now),
            wake_at: None,
            completed_at: None,
        });
        if run.status == run_status::WAITING {
            transition.run_change = Some(RunChange {
                status: run_status::RUNNING.to_owned(),
                output: None,
                error: run.error.clone(),
                started_at: None,
                completed_at: None,
            });
        }
        let applied = self.committer.commit(transition).await?;
        if applied {
            self.notify();
        }
        Ok(applied)
    }

    /// Wakes waiting steps whose `wake_at` passed (deadlines, child-run polls).
    pub(crate) async fn wake_due_waits(&self) {
        let now = Utc::now();
        let due = match self.store.workflows.due_waiting_steps(now, SWEEP_BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "reading expired waits failed");
                return;
            }
        };
        for step in due {
            let Ok(Some(run)) = self.store.workflows.get_run(OrgScope(step.org_id), step.run_id).await else {
                continue;
            };
            if let Err(error) = self.signal(&run, &step, json!({"timed_out": true}), Vec::new()).await {
                tracing::warn!(%error, run_id = %run.id, step = %step.step_key, "waking a step failed");
            }
        }
    }

    /// Offers `event` to the `wait_event` steps of `run` that wait for it; returns the keys of the
    /// steps it was delivered to (recorded durably before this returns).
    pub(crate) async fn deliver_event(&self, run: &RunRecord, event: &SystemEvent) -> Result<Vec<String>, StoreError> {
        let scope = OrgScope(run.org_id);
        let waiting = self.store.workflows.waiting_steps(scope, run.id).await?;
        if !waiting.iter().any(|s| waits_for_event(s, &event.event_type)) {
            return Ok(Vec::new());
        }
        let definition = self.definition(run).await.map_err(StoreError::Unavailable)?;
        let steps = self.store.workflows.list_steps(scope, run.id).await?;
        let env = self.run_env(&definition, run).await?;
        let candidate = event_json(event);
        let mut delivered = Vec::new();
        for step in waiting.iter().filter(|s| waits_for_event(s, &event.event_type)) {
            let (step_scope, id) = parse_key(&step.step_key);
            let Some(StepKind::WaitEvent(wait)) = step_in_scope(&definition, &step_scope, id).map(|s| &s.kind) else {
                continue;
            };
            if let Some(filter) = &wait.filter {
                let mut context = context::build(run, &steps, &step.step_key);
                context.event = Some(candidate.clone());
                context.env = env.clone();
                match Expression::compile(filter).and_then(|e| e.evaluate_bool(&context)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(error) => {
                        tracing::debug!(%error, step = %step.step_key, "wait_event filter failed on an event");
                        continue;
                    }
                }
            }
            let received = plan::event(
                run,
                "workflow.step.event_received",
                json!({"run_id": run.id, "step": step.step_key, "event_id": event.event_id}),
            );
            if self.signal(run, step, json!({"event": candidate}), vec![received]).await? {
                delivered.push(step.step_key.clone());
            }
        }
        Ok(delivered)
    }

    /// Offers committed events (handed over by the outbox relay) to every run of their
    /// organization with a matching wait. An `Err` (the store failed) has the relay hand them over
    /// again; a delivery already recorded is not repeated (the step no longer waits).
    pub(crate) async fn deliver_events(&self, events: &[SystemEvent]) -> Result<(), StoreError> {
        let mut waiting: HashMap<(OrgId, &str), Vec<uuid::Uuid>> = HashMap::new();
        for event in events {
            let Some(org) = event.org_id else { continue };
            let runs = match waiting.entry((org, event.event_type.as_str())) {
                Entry::Occupied(found) => found.into_mut(),
                Entry::Vacant(slot) => {
                    slot.insert(self.store.workflows.runs_waiting_for_event(OrgScope(org), &event.event_type).await?)
                }
            };
            for run_id in runs.iter() {
                let Some(run) = self.store.workflows.get_run(OrgScope(org), *run_id).await? else { continue };
                self.deliver_event(&run, event).await?;
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl auterity_events::OutboxConsumer for Engine {
    fn name(&self) -> &'static str {
        "workflow waits"
    }

    async fn consume(&self, events: &[SystemEvent]) -> Result<(), String> {
        self.deliver_events(events).await.map_err(|e| e.to_string())
    }
}

/// Whether a waiting step's memo says it waits for events of this type.
fn waits_for_event(step: &StepRecord, event_type: &str) -> bool {
    let Some(memo) = step.output.as_ref() else { return false };
    memo.get("waiting_for").and_then(Value::as_str) == Some("event")
        && memo.get("event_type").and_then(Value::as_str) == Some(event_type)
        && memo.get("event").is_none()
}
