//! Executes one attempt of one step instance and says what happened ([`Outcome`]). No storage
//! here: the caller turns the outcome into a transition.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::time::Duration;

use super::keys::Scope;
use super::outcome::Outcome;
use crate::definition::{ErrorClass, Step, StepKind};
use crate::expr::{EvalContext, Expression, ValueTemplate};
use crate::outbound::Outbound;

/// Default start-to-close limit of an attempt with no `timeout`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(300);

pub struct StepCall<'a> {
    pub step: &'a Step,
    pub key: &'a str,
    /// The step's stored output: a memo left by an earlier phase (a timer's wake time).
    pub memo: Option<&'a Value>,
    pub context: &'a EvalContext,
    pub idempotency_key: String,
    pub now: DateTime<Utc>,
    /// The run's organization denies private address ranges (egress policy).
    pub deny_private: bool,
}

fn eval(source: &str, context: &EvalContext) -> Result<Value, Outcome> {
    Expression::compile(source)
        .and_then(|e| e.evaluate(context))
        .map_err(|e| Outcome::failed(ErrorClass::Expression, format!("{source}: {e}")))
}

fn eval_bool(source: &str, context: &EvalContext) -> Result<bool, Outcome> {
    Expression::compile(source)
        .and_then(|e| e.evaluate_bool(context))
        .map_err(|e| Outcome::failed(ErrorClass::Expression, format!("{source}: {e}")))
}

pub async fn execute(call: StepCall<'_>, outbound: &Outbound) -> Outcome {
    let timeout = call.step.timeout.map(|t| t.as_std()).unwrap_or(DEFAULT_STEP_TIMEOUT);
    match tokio::time::timeout(timeout, execute_inner(&call, outbound, timeout)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            Outcome::failed(ErrorClass::Timeout, format!("attempt exceeded its timeout of {} ms", timeout.as_millis()))
        }
    }
}

async fn execute_inner(call: &StepCall<'_>, outbound: &Outbound, timeout: Duration) -> Outcome {
    let context = call.context;
    match &call.step.kind {
        StepKind::Transform(transform) => {
            match ValueTemplate::compile(&transform.output).and_then(|t| t.render(context)) {
                Ok(output) => Outcome::Completed { output, next: None },
                Err(e) => Outcome::failed(ErrorClass::Expression, format!("output: {e}")),
            }
        }
        StepKind::Condition(condition) => match eval_bool(&condition.condition, context) {
            Ok(result) => {
                let targets = if result { &condition.then_next } else { &condition.else_next };
                let next = targets.as_ref().map(|t| t.ids().map(str::to_owned).collect()).unwrap_or_default();
                Outcome::Completed { output: json!({"result": result}), next: Some(next) }
            }
            Err(outcome) => outcome,
        },
        StepKind::Switch(switch) => {
            for (index, case) in switch.cases.iter().enumerate() {
                match eval_bool(&case.when, context) {
                    Ok(true) => {
                        return Outcome::Completed {
                            output: json!({"case": index}),
                            next: Some(case.next.ids().map(str::to_owned).collect()),
                        };
                    }
                    Ok(false) => {}
                    Err(outcome) => return outcome,
                }
            }
            let next = switch.default.as_ref().map(|t| t.ids().map(str::to_owned).collect()).unwrap_or_default();
            Outcome::Completed { output: json!({"case": null}), next: Some(next) }
        }
        StepKind::Http(step) => {
            super::http::run_http(outbound, call.deny_private, step, context, &call.idempotency_key, timeout).await
        }
        StepKind::Delay(delay) => {
            if let Some(until) = call.memo.and_then(|m| m.get("until")).and_then(Value::as_str) {
                // Second phase: the timer fired.
                return Outcome::Completed { output: json!({"until": until}), next: None };
            }
            let until = match (&delay.duration, &delay.until) {
                (Some(duration), _) => {
                    call.now + chrono::Duration::milliseconds(duration.as_millis().min(i64::MAX as u64) as i64)
                }
                (None, Some(source)) => match eval(source, context) {
                    Ok(Value::String(text)) => match DateTime::parse_from_rfc3339(&text) {
                        Ok(at) => at.with_timezone(&Utc),
                        Err(e) => return Outcome::failed(ErrorClass::Expression, format!("until: {e}")),
                    },
                    Ok(other) => {
                        return Outcome::failed(
                            ErrorClass::Expression,
                            format!("until must be an RFC 3339 string, got {other}"),
                        );
                    }
                    Err(outcome) => return outcome,
                },
                (None, None) => call.now,
            };
            let memo = json!({"until": until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)});
            if until <= call.now {
                return Outcome::Completed { output: memo, next: None };
            }
            Outcome::Sleep { until, memo }
        }
        StepKind::Parallel(parallel) => {
            let mut start = Vec::new();
            for branch in &parallel.branches {
                let scope = Scope::Branch { container_key: call.key.to_owned(), branch: branch.name.clone() };
                for entry in branch.block.entry_ids() {
                    start.push((format!("{}{entry}", scope.prefix()), entry.to_owned()));
                }
            }
            Outcome::Expand { memo: json!({}), remaining: parallel.branches.len() as i32, start }
        }
        StepKind::Foreach(foreach) => {
            let items = match eval(&foreach.items, context) {
                Ok(Value::Array(items)) => items,
                Ok(other) => {
                    return Outcome::failed(ErrorClass::Expression, format!("items must be a list, got {other}"));
                }
                Err(outcome) => return outcome,
            };
            if items.is_empty() {
                return Outcome::Completed { output: json!([]), next: None };
            }
            let first = items.len().min(foreach.concurrency.max(1) as usize);
            let mut start = Vec::new();
            for index in 0..first {
                let scope = Scope::Item { container_key: call.key.to_owned(), index };
                for entry in foreach.body.entry_ids() {
                    start.push((format!("{}{entry}", scope.prefix()), entry.to_owned()));
                }
            }
            Outcome::Expand { memo: json!({"items": items}), remaining: items.len() as i32, start }
        }
        other => Outcome::failed(
            ErrorClass::Internal,
            format!("step kind {} is not executable by this engine version yet", other.name()),
        ),
    }
}
