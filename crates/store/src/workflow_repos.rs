//! The workflow engine's storage contract: definitions with versions, runs, step instances, and
//! the durable step queue (lease claims, heartbeats, guarded group commits).

use async_trait::async_trait;
use auterity_types::records::{Effects, PageRequest};
use auterity_types::workflow_records::{
    AttemptRecord, Committed, NewRun, RunFilter, RunRecord, StepRecord, Transition, WorkflowRecord, WorkflowVersion,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{OrgScope, StoreError};

#[async_trait]
pub trait WorkflowRepo: Send + Sync {
    /// Inserts the head row and its version 1 together. `Conflict` when the organization already
    /// has an active or inactive workflow of that name; `NotFound` when `workflow.org_id` is not
    /// the scope's organization, `workflow.user_id` is not one of its users, or `version` belongs
    /// to another workflow.
    async fn create_workflow(
        &self,
        scope: OrgScope,
        workflow: &WorkflowRecord,
        version: &WorkflowVersion,
        effects: &Effects,
    ) -> Result<(), StoreError>;
    /// Appends `version` (which must be `latest_version + 1`) and moves the head to it, atomically:
    /// returns false when the workflow is not in scope or another writer added that version first.
    /// `description: None` keeps the current description; the head's `updated_at` becomes the
    /// version's `created_at`.
    async fn add_workflow_version(
        &self,
        scope: OrgScope,
        version: &WorkflowVersion,
        description: Option<&str>,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    async fn get_workflow(&self, scope: OrgScope, id: Uuid) -> Result<Option<WorkflowRecord>, StoreError>;
    async fn get_workflow_by_name(&self, scope: OrgScope, name: &str) -> Result<Option<WorkflowRecord>, StoreError>;
    /// Active workflows only unless `include_inactive`, in id order (`page.after` continues after
    /// that id).
    async fn list_workflows(
        &self,
        scope: OrgScope,
        include_inactive: bool,
        page: PageRequest,
    ) -> Result<Vec<WorkflowRecord>, StoreError>;
    async fn get_workflow_version(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
        version: i32,
    ) -> Result<Option<WorkflowVersion>, StoreError>;
    /// Every version, oldest first.
    async fn list_workflow_versions(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
    ) -> Result<Vec<WorkflowVersion>, StoreError>;
    /// Soft delete / restore (also sets `updated_at` to now). Returns false when not in scope, and
    /// then writes no `effects`.
    async fn set_workflow_active(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
        active: bool,
        effects: &Effects,
    ) -> Result<bool, StoreError>;

    /// Inserts the run, its initial steps, and its `unified_executions` row
    /// (`execution_type = 'workflow'`, `source_system = 'autmatrix'`, `source_id = run.id`,
    /// `user_id = run.created_by`), with `effects`, in one transaction. The unified row's id is the
    /// run id; its `metadata` holds workflow id, version, trigger, correlation and parent run ids.
    /// `NotFound` when the workflow is not one of `run.org_id`'s, `run.created_by` is not one of
    /// its users, the version does not exist, or a step is not of this run and organization;
    /// `Conflict` when the run or a step key exists already.
    async fn create_run(&self, run: &RunRecord, steps: &[StepRecord], effects: &Effects) -> Result<(), StoreError> {
        let start =
            NewRun { run: run.clone(), steps: steps.to_vec(), effects: effects.clone(), receipt: None, advance: None };
        match self.create_runs(std::slice::from_ref(&start)).await?.pop() {
            Some(Ok(_)) => Ok(()),
            Some(Err(error)) => Err(error),
            None => Err(StoreError::Unavailable("the run start was not answered".to_owned())),
        }
    }
    /// Starts many runs in ONE transaction (group commit of starts). Each is written as
    /// `create_run` writes it and answers on its own: `Ok(true)` written; `Ok(false)` its cron
    /// tick was taken or its receipt exists (a replay or redelivery); `Err` its own `NotFound` or
    /// `Conflict`. Nothing of a run that is not written is written. A triggered run first claims
    /// its cron tick (with `advance`: `next_fire_at` moves on only if it still equals
    /// `advance.expected`), records its receipt (unique per workflow, trigger and key; of two
    /// equal receipts in one call the first wins) and sets its trigger's `last_fired_at`. An
    /// outer error (a lost connection) fails them all.
    async fn create_runs(&self, runs: &[NewRun]) -> Result<Vec<Result<bool, StoreError>>, StoreError>;
    async fn get_run(&self, scope: OrgScope, run_id: Uuid) -> Result<Option<RunRecord>, StoreError>;
    /// Newest first; `page.after` continues with runs older than that id.
    async fn list_runs(
        &self,
        scope: OrgScope,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Vec<RunRecord>, StoreError>;
    /// Step instances of a run in creation order.
    async fn list_steps(&self, scope: OrgScope, run_id: Uuid) -> Result<Vec<StepRecord>, StoreError>;
    /// The run's top-level steps (keys without `/`) and those whose key starts with one of
    /// `prefixes` (the scopes a step instance sees), in creation order.
    async fn list_scoped_steps(
        &self,
        scope: OrgScope,
        run_id: Uuid,
        prefixes: &[String],
    ) -> Result<Vec<StepRecord>, StoreError>;
    async fn list_attempts(&self, scope: OrgScope, run_id: Uuid) -> Result<Vec<AttemptRecord>, StoreError>;
    /// The attempts of one step in attempt order, after `after_attempt` (a page of `limit`).
    async fn list_step_attempts(
        &self,
        scope: OrgScope,
        run_id: Uuid,
        step_key: &str,
        after_attempt: Option<i32>,
        limit: u32,
    ) -> Result<Vec<AttemptRecord>, StoreError>;
    /// Runs not in a terminal state with the given concurrency key (flow control), across workflows
    /// when `workflow_id` is None, whatever their key when `concurrency_key` is None.
    async fn count_active_runs(
        &self,
        scope: OrgScope,
        workflow_id: Option<Uuid>,
        concurrency_key: Option<&str>,
    ) -> Result<i64, StoreError>;

    /// Claims up to `limit` steps for `owner`: `ready` steps with `ready_at <= now` of runs whose
    /// status is `running` or `waiting` (a run waiting on one step may progress on others), plus `running` steps whose lease expired before `now` (an interrupted
    /// attempt). Each claimed step becomes `running` with `lease_owner = owner`,
    /// `lease_expires_at = lease_until`, `attempt = attempt + 1`, `started_at = now`. Highest run
    /// priority first, then oldest `ready_at`; expired leases are taken before ready steps (two
    /// statements, each atomic). A `ready` step without `ready_at` is never due. Safe under
    /// concurrency: PostgreSQL uses `FOR UPDATE SKIP LOCKED`; SQLite's single writer serializes
    /// claims. Returns the claimed rows as they are after the claim, in that priority order.
    async fn claim_steps(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StepRecord>, StoreError>;
    /// Extends the leases `owner` still holds (`(run_id, step_key, attempt)`, the step still
    /// `running`); returns how many were extended.
    async fn heartbeat(
        &self,
        owner: &str,
        leases: &[(Uuid, String, i32)],
        lease_until: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Applies many transitions in ONE transaction (group commit). Each transition with a guard
    /// applies only if its guarded step is still `running` under that owner and attempt, and one
    /// with `expect_status` only if that step has that status; otherwise it is skipped entirely
    /// (nothing of it is written). Returns, per transition, whether it applied.
    /// A transition also writes its attempt row, outbox events, run change (and the run's
    /// `unified_executions` status/completed_at/error_message when the run status changes).
    ///
    /// A transition is also skipped (`false`, nothing written) when its run does not exist, is not
    /// in `org_id`'s organization (when given), a new step or the attempt is not of its run and
    /// organization, or one of its writes fails on a constraint (e.g. an event id already in the
    /// outbox): each transition runs under a savepoint, so the others of the batch still apply.
    /// `ArriveAtJoin` never takes `remaining` below 0. The run change keeps an existing
    /// `started_at`; `updated_at` of changed rows is the transition's `at`. Other failures (a
    /// lost connection) fail the whole batch; a PostgreSQL deadlock retries it.
    async fn commit_transitions(&self, transitions: &[Transition]) -> Result<Vec<bool>, StoreError> {
        Ok(self.commit_and_claim(transitions).await?.into_iter().map(|c| c.applied).collect())
    }
    /// `commit_transitions`, also answering the steps each applied transition's `claim_after`
    /// claimed (in the same transaction).
    async fn commit_and_claim(&self, transitions: &[Transition]) -> Result<Vec<Committed>, StoreError>;
    /// `waiting` steps whose `wake_at <= now` (timers, timeouts), oldest first, whatever the run's
    /// status.
    async fn due_waiting_steps(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<StepRecord>, StoreError>;
    /// The runs in scope with a `waiting` step whose memo says it waits for events of
    /// `event_type` (`{"waiting_for": "event", "event_type": …}`), each once.
    async fn runs_waiting_for_event(&self, scope: OrgScope, event_type: &str) -> Result<Vec<Uuid>, StoreError>;
    /// `waiting` steps of the run, if in scope, in creation order (for signals such as approvals
    /// and events).
    async fn waiting_steps(&self, scope: OrgScope, run_id: Uuid) -> Result<Vec<StepRecord>, StoreError>;
    /// The earliest `ready_at` of a ready step of a running run, `wake_at` of a waiting step, or
    /// `lease_expires_at` of a running step of a running run, for the engine to sleep until.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Counts for metrics: ready steps of running runs due at `now`, and the oldest due `ready_at`.
    async fn queue_depth(&self, now: DateTime<Utc>) -> Result<(i64, Option<DateTime<Utc>>), StoreError>;
}
