//! `WorkflowService`: the domain layer of AutoMatrix used by handlers and the CLI — definitions
//! with versions, starting runs (inputs validated, version pinned), reading and cancelling runs.

use auterity_store::{OrgScope, Store, StoreError};
use auterity_types::error::FieldError;
use auterity_types::records::{Effects, PageRequest};
use auterity_types::workflow_records::{
    AttemptRecord, RunChange, RunFilter, RunRecord, StepRecord, Transition, WorkflowRecord, WorkflowVersion,
    run_status, step_status,
};
use auterity_types::{ErrorCode, OrgId, UserId};
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use super::{Engine, keys, plan};
use crate::definition::WorkflowDefinition;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("definition is invalid")]
    Invalid(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WorkflowError {
    pub fn code(&self) -> ErrorCode {
        match self {
            WorkflowError::Invalid(_) => ErrorCode::Validation,
            WorkflowError::NotFound(_) => ErrorCode::NotFound,
            WorkflowError::Conflict(_) => ErrorCode::AlreadyExists,
            WorkflowError::Store(e) => e.code(),
        }
    }
}

/// A validated definition the engine can execute.
pub fn check_definition(definition_json: &Value) -> Result<WorkflowDefinition, Vec<FieldError>> {
    let definition = crate::validate(definition_json)?;
    keys::check_keyable(&definition).map_err(|message| vec![FieldError::new("/steps", message)])?;
    Ok(definition)
}

pub struct WorkflowService {
    pub(super) store: Store,
    pub(super) engine: Arc<Engine>,
}

pub struct StartRun {
    pub inputs: Value,
    pub trigger: String,
    pub priority: i32,
    pub parent: Option<(Uuid, String)>,
}

impl WorkflowService {
    pub fn new(store: Store, engine: Arc<Engine>) -> Self {
        Self { store, engine }
    }

    pub async fn create(
        &self,
        org: OrgId,
        user: UserId,
        definition_json: Value,
    ) -> Result<WorkflowRecord, WorkflowError> {
        let definition = check_definition(&definition_json).map_err(WorkflowError::Invalid)?;
        let now = Utc::now();
        let record = WorkflowRecord {
            id: Uuid::now_v7(),
            org_id: org,
            name: definition.name.clone(),
            description: definition.description.clone(),
            user_id: user,
            definition: definition_json.clone(),
            latest_version: 1,
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        let version = WorkflowVersion {
            workflow_id: record.id,
            version: 1,
            definition: definition_json,
            created_by: user,
            created_at: now,
        };
        match self.store.workflows.create_workflow(OrgScope(org), &record, &version, &Effects::none()).await {
            Ok(()) => Ok(record),
            Err(StoreError::Conflict(_)) => {
                Err(WorkflowError::Conflict(format!("a workflow named {:?} already exists", record.name)))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Stores a new version; runs already started keep theirs.
    pub async fn update(
        &self,
        org: OrgId,
        user: UserId,
        id: Uuid,
        definition_json: Value,
    ) -> Result<WorkflowRecord, WorkflowError> {
        let definition = check_definition(&definition_json).map_err(WorkflowError::Invalid)?;
        let scope = OrgScope(org);
        let current = self.store.workflows.get_workflow(scope, id).await?.ok_or(WorkflowError::NotFound("workflow"))?;
        if definition.name != current.name {
            return Err(WorkflowError::Invalid(vec![FieldError::new(
                "/name",
                "a workflow keeps its name across versions",
            )]));
        }
        let version = WorkflowVersion {
            workflow_id: id,
            version: current.latest_version + 1,
            definition: definition_json,
            created_by: user,
            created_at: Utc::now(),
        };
        if !self
            .store
            .workflows
            .add_workflow_version(scope, &version, definition.description.as_deref(), &Effects::none())
            .await?
        {
            return Err(WorkflowError::Conflict(
                "the workflow changed meanwhile; retry with the latest version".into(),
            ));
        }
        self.store.workflows.get_workflow(scope, id).await?.ok_or(WorkflowError::NotFound("workflow"))
    }

    pub async fn get(&self, org: OrgId, id: Uuid) -> Result<WorkflowRecord, WorkflowError> {
        self.store.workflows.get_workflow(OrgScope(org), id).await?.ok_or(WorkflowError::NotFound("workflow"))
    }

    pub async fn list(&self, org: OrgId, page: PageRequest) -> Result<Vec<WorkflowRecord>, WorkflowError> {
        Ok(self.store.workflows.list_workflows(OrgScope(org), false, page).await?)
    }

    pub async fn versions(&self, org: OrgId, id: Uuid) -> Result<Vec<WorkflowVersion>, WorkflowError> {
        self.get(org, id).await?;
        Ok(self.store.workflows.list_workflow_versions(OrgScope(org), id).await?)
    }

    pub async fn delete(&self, org: OrgId, id: Uuid) -> Result<(), WorkflowError> {
        if self.store.workflows.set_workflow_active(OrgScope(org), id, false, &Effects::none()).await? {
            Ok(())
        } else {
            Err(WorkflowError::NotFound("workflow"))
        }
    }

    /// Starts a run of the workflow's latest version: the run and its entry steps are written
    /// (with `workflow.run.started`) before anything executes.
    pub async fn start(
        &self,
        org: OrgId,
        user: UserId,
        workflow_id: Uuid,
        request: StartRun,
    ) -> Result<RunRecord, WorkflowError> {
        let workflow = self.get(org, workflow_id).await?;
        if !workflow.is_active {
            return Err(WorkflowError::NotFound("workflow"));
        }
        let definition: WorkflowDefinition = serde_json::from_value(workflow.definition.clone())
            .map_err(|e| WorkflowError::Invalid(vec![FieldError::new("", e.to_string())]))?;
        self.launch(org, user, workflow_id, workflow.latest_version, &definition, request, None).await
    }

    /// Starts a run of `version` (whose definition is `definition`), optionally re-running `rerun_of`.
    #[expect(clippy::too_many_arguments, reason = "the pieces of a run start, each from a different source")]
    pub(super) async fn launch(
        &self,
        org: OrgId,
        user: UserId,
        workflow_id: Uuid,
        version: i32,
        definition: &WorkflowDefinition,
        request: StartRun,
        rerun_of: Option<Uuid>,
    ) -> Result<RunRecord, WorkflowError> {
        let inputs = crate::validate_inputs(definition, &request.inputs).map_err(WorkflowError::Invalid)?;
        let now = Utc::now();
        let run_id = Uuid::now_v7();
        let run = RunRecord {
            id: run_id,
            org_id: org,
            workflow_id,
            version,
            status: run_status::RUNNING.to_owned(),
            inputs,
            output: None,
            error: None,
            priority: request.priority,
            concurrency_key: None,
            parent_run_id: request.parent.as_ref().map(|(id, _)| *id),
            parent_step_key: request.parent.map(|(_, key)| key),
            correlation_id: run_id,
            trigger: request.trigger,
            created_by: user,
            created_at: now,
            started_at: Some(now),
            completed_at: None,
            updated_at: now,
            rerun_of,
        };
        let steps: Vec<StepRecord> = definition
            .entry_ids()
            .into_iter()
            .map(|id| plan::new_step(&run, id.to_owned(), id.to_owned(), step_status::READY, 0, now))
            .collect();
        let started = plan::event(
            &run,
            "workflow.run.started",
            json!({"run_id": run.id, "workflow_id": workflow_id, "version": run.version, "rerun_of": rerun_of}),
        );
        self.store.workflows.create_run(&run, &steps, &Effects::none().event(started)).await?;
        metrics::counter!("auterity_workflow_runs_total", "status" => "started").increment(1);
        self.engine.notify();
        Ok(run)
    }

    pub async fn run(
        &self,
        org: OrgId,
        run_id: Uuid,
    ) -> Result<(RunRecord, Vec<StepRecord>, Vec<AttemptRecord>), WorkflowError> {
        let scope = OrgScope(org);
        let run = self.store.workflows.get_run(scope, run_id).await?.ok_or(WorkflowError::NotFound("run"))?;
        let mut steps = self.store.workflows.list_steps(scope, run_id).await?;
        let mut attempts = self.store.workflows.list_attempts(scope, run_id).await?;
        // The finishing step is the engine's bookkeeping, not part of the definition.
        steps.retain(|s| s.step_key != super::finish::FINISH_KEY);
        attempts.retain(|a| a.step_key != super::finish::FINISH_KEY);
        Ok((run, steps, attempts))
    }

    pub async fn runs(
        &self,
        org: OrgId,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Vec<RunRecord>, WorkflowError> {
        Ok(self.store.workflows.list_runs(OrgScope(org), filter, page).await?)
    }

    /// Cancels a run that has not finished: nothing of it runs afterwards (a step already executing
    /// finishes, but its result is discarded because its step is no longer `running`).
    pub async fn cancel(&self, org: OrgId, actor: UserId, run_id: Uuid) -> Result<RunRecord, WorkflowError> {
        let (run, steps) = self.control_target(org, run_id).await?;
        if run_status::TERMINAL.contains(&run.status.as_str()) {
            return Err(WorkflowError::Conflict(format!("the run is already {}", run.status)));
        }
        let now = Utc::now();
        let mut transition = Transition { run_id, org_id: Some(org), at: now, ..Transition::default() };
        for step in &steps {
            if matches!(
                step.status.as_str(),
                step_status::READY | step_status::PENDING | step_status::WAITING | step_status::RUNNING
            ) {
                transition.step_changes.push(plan::set(
                    &step.step_key,
                    step_status::CANCELLED,
                    step.output.clone(),
                    None,
                    None,
                    now,
                ));
            }
        }
        transition.run_change = Some(RunChange {
            status: run_status::CANCELLED.to_owned(),
            output: None,
            error: Some(json!({"cancelled_by": actor})),
            started_at: None,
            completed_at: Some(now),
        });
        transition.events.push(plan::event(
            &run,
            "workflow.run.cancelled",
            json!({"run_id": run_id, "cancelled_by": actor}),
        ));
        transition.run_status_in = super::control::unfinished_statuses();
        if !self.engine.committer().commit(transition).await? {
            return Err(WorkflowError::Conflict("the run ended meanwhile".into()));
        }
        metrics::counter!("auterity_workflow_runs_total", "status" => "cancelled").increment(1);
        Ok(self.run(org, run_id).await?.0)
    }
}
