//! `WorkflowService`: the domain layer of AutoMatrix used by handlers and the CLI — definitions
//! with versions, starting runs (inputs validated, version pinned), reading and cancelling runs.

use auterity_store::{OrgScope, Store, StoreError};
use auterity_types::error::FieldError;
use auterity_types::records::{Effects, PageRequest};
use auterity_types::workflow_records::{
    AttemptRecord, NewRun, RunChange, RunFilter, RunRecord, StepRecord, Transition, WorkflowRecord, WorkflowVersion,
    run_status, step_status,
};
use auterity_types::{ErrorCode, OrgId, UserId};
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use super::{Engine, keys, plan};
use crate::definition::WorkflowDefinition;
use crate::triggers::sync::{NewWebhookSecret, sync_triggers};
use auterity_auth::crypto::MasterKey;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("definition is invalid")]
    Invalid(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl WorkflowError {
    pub fn code(&self) -> ErrorCode {
        match self {
            WorkflowError::Invalid(_) => ErrorCode::Validation,
            WorkflowError::NotFound(_) => ErrorCode::NotFound,
            WorkflowError::Conflict(_) => ErrorCode::AlreadyExists,
            WorkflowError::Forbidden(_) => ErrorCode::Forbidden,
            WorkflowError::Store(e) => e.code(),
            WorkflowError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// The payload of `workflow.run.started` (and `workflow.run.queued`).
/// `workflow.run.started` of a run admitted from `pending`.
pub(crate) fn run_started_event(run: &RunRecord) -> auterity_types::SystemEvent {
    plan::event(run, "workflow.run.started", plan::run_started_payload(run))
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
    /// Encrypts webhook secrets when a version declaring webhooks is stored.
    master_key: MasterKey,
}

/// A stored definition, with the webhook secrets created for it (shown this once).
pub struct SavedWorkflow {
    pub workflow: WorkflowRecord,
    pub new_webhook_secrets: Vec<NewWebhookSecret>,
}

pub struct StartRun {
    pub inputs: Value,
    pub trigger: String,
    pub priority: i32,
}

impl WorkflowService {
    pub fn new(store: Store, engine: Arc<Engine>, master_key: MasterKey) -> Self {
        Self { store, engine, master_key }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.master_key
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub async fn create(
        &self,
        org: OrgId,
        user: UserId,
        definition_json: Value,
    ) -> Result<SavedWorkflow, WorkflowError> {
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
            Ok(()) => {
                let new_webhook_secrets = sync_triggers(&self.store, &self.master_key, &record, &definition).await?;
                Ok(SavedWorkflow { workflow: record, new_webhook_secrets })
            }
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
    ) -> Result<SavedWorkflow, WorkflowError> {
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
        let workflow =
            self.store.workflows.get_workflow(scope, id).await?.ok_or(WorkflowError::NotFound("workflow"))?;
        let new_webhook_secrets = sync_triggers(&self.store, &self.master_key, &workflow, &definition).await?;
        Ok(SavedWorkflow { workflow, new_webhook_secrets })
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
        let (run, steps, effects) = self.prepare_run(&workflow, user, request)?;
        self.write_run(NewRun { run: run.clone(), steps, effects, receipt: None, advance: None }).await?;
        Ok(run)
    }

    /// The rows of a new run of `workflow`'s latest version — the run, its entry steps and the
    /// `workflow.run.started` event (`pending` with `workflow.run.queued` when the definition has
    /// flow limits) — without writing them (triggers write them together with
    /// their receipt). Inputs are validated here.
    pub fn prepare_run(
        &self,
        workflow: &WorkflowRecord,
        user: UserId,
        request: StartRun,
    ) -> Result<(RunRecord, Vec<StepRecord>, Effects), WorkflowError> {
        if !workflow.is_active {
            return Err(WorkflowError::NotFound("workflow"));
        }
        let plan = self
            .engine
            .start_plan(workflow.id, workflow.latest_version, &workflow.definition)
            .map_err(|e| WorkflowError::Invalid(vec![FieldError::new("", e.to_string())]))?;
        let inputs = plan.inputs.validate(&request.inputs).map_err(WorkflowError::Invalid)?;
        self.prepare_version(
            workflow.org_id,
            user,
            workflow.id,
            workflow.latest_version,
            &plan.definition,
            request,
            inputs,
            None,
        )
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
        let (run, steps, effects) =
            self.prepare_version(org, user, workflow_id, version, definition, request, inputs, rerun_of)?;
        self.write_run(NewRun { run: run.clone(), steps, effects, receipt: None, advance: None }).await?;
        Ok(run)
    }

    /// The rows of a new run of `version` of a workflow with its checked `inputs`, not written yet.
    #[expect(clippy::too_many_arguments, reason = "the pieces of a run start, each from a different source")]
    fn prepare_version(
        &self,
        org: OrgId,
        user: UserId,
        workflow_id: Uuid,
        version: i32,
        definition: &WorkflowDefinition,
        request: StartRun,
        inputs: Value,
        rerun_of: Option<Uuid>,
    ) -> Result<(RunRecord, Vec<StepRecord>, Effects), WorkflowError> {
        let (queued, concurrency_key) = match &definition.flow {
            Some(flow) => (true, crate::triggers::flow::concurrency_key(flow, &inputs)?),
            None => (false, None),
        };
        let run_id = Uuid::now_v7();
        let start = plan::RunStart {
            id: run_id,
            org_id: org,
            workflow_id,
            version,
            inputs,
            priority: request.priority,
            concurrency_key,
            queued,
            parent: None,
            correlation_id: run_id,
            trigger: request.trigger,
            created_by: user,
            rerun_of,
        };
        let (run, steps, event) = plan::new_run(start, definition, Utc::now());
        Ok((run, steps, Effects::none().event(event)))
    }

    /// Writes a prepared run (group-committed with concurrent starts), its entry steps claimed
    /// by this process when it has room; counts it, runs those steps and wakes the engine.
    /// `Ok(false)` when its receipt exists or its cron tick was taken: nothing written.
    pub(crate) async fn write_run(&self, mut run: NewRun) -> Result<bool, StoreError> {
        let claims = self.engine.claim_at_start(&mut run);
        let written = self.engine.starts().write(run).await?;
        if written {
            if let Some(claims) = claims {
                self.engine.run_claimed(claims);
            }
            self.run_created();
        }
        Ok(written)
    }

    /// Call once pending runs were admitted: wakes the engine.
    pub(crate) fn runs_admitted(&self) {
        self.engine.notify();
    }

    /// Call once a prepared run is written: counts it and wakes the engine.
    fn run_created(&self) {
        metrics::counter!("auterity_workflow_runs_total", "status" => "started").increment(1);
        self.engine.notify();
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
            if step_status::OPEN.contains(&step.status.as_str()) {
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
        // Children of waiting `subworkflow` steps are cancelled with their parent.
        for step in steps.iter().filter(|s| s.status == step_status::WAITING) {
            let child = step.output.as_ref().and_then(|m| m.get("child_run_id")).and_then(Value::as_str);
            if let Some(child) = child.and_then(|c| Uuid::parse_str(c).ok()) {
                match Box::pin(self.cancel(org, actor, child)).await {
                    Ok(_) | Err(WorkflowError::Conflict(_) | WorkflowError::NotFound(_)) => {}
                    Err(error) => tracing::warn!(%error, %child, "cancelling a child run failed"),
                }
            }
        }
        let cancelled = self.run(org, run_id).await?.0;
        self.engine.wake_parent(&cancelled).await;
        Ok(cancelled)
    }
}
