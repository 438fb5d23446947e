//! Builders of workflow records for the conformance suite, and a reader of the one row the
//! workflow repository writes outside its own tables (`unified_executions`).

use auterity_types::records::User;
use auterity_types::workflow_records::{
    AttemptRecord, LeaseGuard, RunChange, RunRecord, StepChange, StepRecord, Transition, WorkflowRecord,
    WorkflowVersion, run_status, step_status,
};
use auterity_types::{OrgId, UserId};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use super::builders::now;
use crate::{Store, StoreError};

/// A workflow of `owner`'s organization at version 1, and that version.
pub fn workflow(owner: &User, name: &str) -> (WorkflowRecord, WorkflowVersion) {
    let created_at = now();
    let definition = json!({ "name": name, "steps": [{ "id": "fetch", "type": "http" }] });
    let record = WorkflowRecord {
        id: Uuid::now_v7(),
        org_id: owner.org_id,
        name: name.to_owned(),
        description: Some(format!("{name}, version 1")),
        user_id: owner.id,
        definition: definition.clone(),
        latest_version: 1,
        is_active: true,
        created_at,
        updated_at: created_at,
    };
    let version = WorkflowVersion { workflow_id: record.id, version: 1, definition, created_by: owner.id, created_at };
    (record, version)
}

/// Version `version` of `workflow`, with a definition that names its revision.
pub fn workflow_version(workflow: &WorkflowRecord, version: i32, by: UserId) -> WorkflowVersion {
    WorkflowVersion {
        workflow_id: workflow.id,
        version,
        definition: json!({ "name": workflow.name, "revision": version }),
        created_by: by,
        created_at: now(),
    }
}

/// A `running` run of the workflow's latest version, started by `by`.
pub fn run(workflow: &WorkflowRecord, by: UserId) -> RunRecord {
    let created_at = now();
    RunRecord {
        id: Uuid::now_v7(),
        org_id: workflow.org_id,
        workflow_id: workflow.id,
        version: workflow.latest_version,
        status: run_status::RUNNING.to_owned(),
        inputs: json!({ "vin": "1HGCM82633A004352", "rooftop": "north" }),
        output: None,
        error: None,
        priority: 0,
        concurrency_key: None,
        parent_run_id: None,
        parent_step_key: None,
        correlation_id: Uuid::now_v7(),
        trigger: "manual".to_owned(),
        created_by: by,
        created_at,
        started_at: Some(created_at),
        completed_at: None,
        rerun_of: None,
        updated_at: created_at,
    }
}

/// A step instance of `run` with the run's priority; `ready` steps are due now.
pub fn step(run: &RunRecord, key: &str, status: &str) -> StepRecord {
    let created_at = now();
    StepRecord {
        run_id: run.id,
        step_key: key.to_owned(),
        step_id: key.rsplit('.').next().unwrap_or(key).to_owned(),
        org_id: run.org_id,
        status: status.to_owned(),
        attempt: 0,
        remaining: 0,
        input: Some(json!({ "key": key })),
        output: None,
        error: None,
        priority: run.priority,
        ready_at: (status == step_status::READY).then_some(created_at),
        wake_at: None,
        lease_owner: None,
        lease_expires_at: None,
        started_at: None,
        completed_at: None,
        updated_at: created_at,
    }
}

/// A new `ready` step of `run` due at `at`, as the engine schedules a successor.
pub fn plan_step(run: &RunRecord, key: &str, at: DateTime<Utc>) -> StepRecord {
    StepRecord { ready_at: Some(at), updated_at: at, input: None, ..step(run, key, step_status::READY) }
}

/// An empty transition of `run`, scoped to its organization.
pub fn transition(run: &RunRecord, at: DateTime<Utc>) -> Transition {
    Transition { run_id: run.id, org_id: Some(run.org_id), at, ..Transition::default() }
}

/// The guard of the lease a claimed step is held under.
pub fn guard(claimed: &StepRecord) -> LeaseGuard {
    LeaseGuard {
        step_key: claimed.step_key.clone(),
        owner: claimed.lease_owner.clone().unwrap_or_default(),
        attempt: claimed.attempt,
    }
}

/// The run's new `status`, ended at `at` (no output, no error).
pub fn end_run(status: &str, at: DateTime<Utc>) -> RunChange {
    RunChange { status: status.to_owned(), output: None, error: None, started_at: None, completed_at: Some(at) }
}

/// Completes a step with `output` at `at`.
pub fn complete(key: &str, output: serde_json::Value, at: DateTime<Utc>) -> StepChange {
    StepChange::Set {
        step_key: key.to_owned(),
        status: step_status::COMPLETED.to_owned(),
        output: Some(output),
        error: None,
        ready_at: None,
        wake_at: None,
        completed_at: Some(at),
    }
}

/// The attempt record of a claimed step that ended with `outcome` at `finished_at`.
pub fn attempt(claimed: &StepRecord, outcome: &str, finished_at: DateTime<Utc>) -> AttemptRecord {
    AttemptRecord {
        run_id: claimed.run_id,
        step_key: claimed.step_key.clone(),
        attempt: claimed.attempt,
        outcome: outcome.to_owned(),
        error: None,
        started_at: claimed.started_at.unwrap_or(finished_at),
        finished_at,
        worker: None,
    }
}

/// A row of `unified_executions`, the cross-system list of executions.
#[derive(Clone, Debug, PartialEq)]
pub struct UnifiedExecution {
    pub id: Uuid,
    pub org_id: OrgId,
    pub execution_type: String,
    pub source_system: String,
    pub source_id: Uuid,
    pub user_id: UserId,
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error_message: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// The `unified_executions` row whose `source_id` is `source_id`, read with plain SQL.
pub async fn unified_execution(store: &Store, source_id: Uuid) -> Result<Option<UnifiedExecution>, StoreError> {
    const SQL: &str = "SELECT id, org_id, execution_type, source_system, source_id, user_id, status, started_at, \
                       completed_at, error_message, metadata FROM unified_executions WHERE source_id = $1";
    macro_rules! fetch {
        ($pool:expr) => {{
            let row = sqlx::query(SQL).bind(source_id).fetch_optional($pool).await?;
            match row {
                None => None,
                Some(row) => Some(UnifiedExecution {
                    id: row.try_get("id")?,
                    org_id: OrgId(row.try_get("org_id")?),
                    execution_type: row.try_get("execution_type")?,
                    source_system: row.try_get("source_system")?,
                    source_id: row.try_get("source_id")?,
                    user_id: UserId(row.try_get("user_id")?),
                    status: row.try_get("status")?,
                    started_at: row.try_get("started_at")?,
                    completed_at: row.try_get("completed_at")?,
                    error_message: row.try_get("error_message")?,
                    metadata: row.try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>("metadata")?.map(|m| m.0),
                }),
            }
        }};
    }
    if let Some(pool) = store.sqlite_pool() {
        return Ok(fetch!(pool));
    }
    if let Some(pool) = store.pg_pool() {
        return Ok(fetch!(pool));
    }
    Ok(None)
}
