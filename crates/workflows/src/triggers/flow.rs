//! Flow control: runs of a workflow whose definition has `flow` limits are written `pending`
//! with their concurrency key, and the admitter (worker role) makes them `running` as the limits
//! allow — highest priority first, then oldest. Counting is done from the runs in the database,
//! in the admission transaction, so a crash loses no queued run and leaks no slot.

use std::sync::Arc;
use std::time::Duration;

use auterity_types::error::FieldError;
use auterity_types::trigger_records::FlowLimits;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;

use crate::definition::{FlowControl, WorkflowDefinition, parse_rate};
use crate::engine::service::{WorkflowError, WorkflowService, run_started_event};
use crate::expr::{EvalContext, Expression};

/// How often the admitter looks for pending runs (a finished run frees its slot within this).
const ADMIT_POLL: Duration = Duration::from_millis(50);

/// The run's concurrency key: the `key` expression over the inputs (strings as-is, other values
/// as compact JSON); `None` without a key.
pub(crate) fn concurrency_key(flow: &FlowControl, inputs: &Value) -> Result<Option<String>, WorkflowError> {
    let Some(source) = flow.key.as_deref() else { return Ok(None) };
    let invalid = |detail: String| WorkflowError::Invalid(vec![FieldError::new("/flow/key", detail)]);
    let value = Expression::compile(source)
        .and_then(|expression| expression.evaluate(&EvalContext::new(inputs.clone())))
        .map_err(|error| invalid(format!("the concurrency key could not be computed from the inputs: {error}")))?;
    Ok(Some(match value {
        Value::String(text) => text,
        other => other.to_string(),
    }))
}

/// The limits the store applies for `flow` (none = admit everything still pending).
pub fn limits(flow: Option<&FlowControl>) -> FlowLimits {
    let Some(flow) = flow else { return FlowLimits::default() };
    FlowLimits {
        concurrency: flow.concurrency.map(i64::from),
        key_concurrency: flow.key_concurrency.map(i64::from),
        key_rate: flow.key_rate.as_deref().and_then(parse_rate).map(|(count, window)| (i64::from(count), window)),
    }
}

/// One admission round over every workflow with pending runs; returns how many were admitted.
pub async fn admit_once(workflows: &WorkflowService) -> Result<usize, WorkflowError> {
    let store = workflows.store();
    let mut admitted = 0;
    for (scope, workflow_id) in store.flow.workflows_with_pending_runs(1000).await? {
        let Some(workflow) = store.workflows.get_workflow(scope, workflow_id).await? else { continue };
        // The latest version's limits apply to every pending run of the workflow.
        let definition: Option<WorkflowDefinition> = serde_json::from_value(workflow.definition).ok();
        let limits = limits(definition.as_ref().and_then(|d| d.flow.as_ref()));
        admitted += store.flow.admit_pending_runs(workflow_id, &limits, Utc::now(), run_started_event).await?.len();
    }
    if admitted > 0 {
        workflows.runs_admitted();
    }
    Ok(admitted)
}

/// Admits pending runs until `shutdown` turns true.
pub async fn run_admitter(workflows: Arc<WorkflowService>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(error) = admit_once(&workflows).await {
            tracing::warn!(%error, "admitting pending runs failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(ADMIT_POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
}
