//! Records of the workflow engine (AutoMatrix) as the store persists them: definitions and their
//! versions, runs, step instances, attempts, and the transitions the engine commits.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{OrgId, SystemEvent, UserId};

/// The head of a workflow definition (the seed's `workflows` table; `definition` is the latest version).
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowRecord {
    pub id: Uuid,
    pub org_id: OrgId,
    pub name: String,
    pub description: Option<String>,
    pub user_id: UserId,
    pub definition: serde_json::Value,
    pub latest_version: i32,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One immutable version of a definition; runs pin the version they started with.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowVersion {
    pub workflow_id: Uuid,
    pub version: i32,
    pub definition: serde_json::Value,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
}

/// Run statuses (`workflow_runs.status`).
pub mod run_status {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    pub const WAITING: &str = "waiting";
    pub const PAUSED: &str = "paused";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
    pub const TERMINAL: [&str; 3] = [COMPLETED, FAILED, CANCELLED];
}

/// Step-instance statuses (`workflow_steps.status`).
pub mod step_status {
    /// Waiting for predecessors (a join with `remaining > 0`).
    pub const PENDING: &str = "pending";
    /// Claimable once `ready_at <= now`.
    pub const READY: &str = "ready";
    /// Leased by a worker until `lease_expires_at`.
    pub const RUNNING: &str = "running";
    /// Parked until `wake_at` (timer, timeout) or an outside signal (event, approval).
    pub const WAITING: &str = "waiting";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const SKIPPED: &str = "skipped";
    pub const CANCELLED: &str = "cancelled";
    /// Not ended yet: a run with none of these left is done.
    pub const OPEN: [&str; 4] = [PENDING, READY, RUNNING, WAITING];
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: Uuid,
    pub org_id: OrgId,
    pub workflow_id: Uuid,
    pub version: i32,
    pub status: String,
    pub inputs: serde_json::Value,
    pub output: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
    /// Higher runs first.
    pub priority: i32,
    /// Flow-control key (e.g. the rooftop) evaluated from the inputs at start.
    pub concurrency_key: Option<String>,
    pub parent_run_id: Option<Uuid>,
    pub parent_step_key: Option<String>,
    pub correlation_id: Uuid,
    /// `manual`, `webhook`, `cron`, `event`, `subworkflow`, `retry`, `rerun`.
    pub trigger: String,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The run this one repeats with new inputs (`POST /api/workflows/runs/{id}/rerun`).
    pub rerun_of: Option<Uuid>,
}

/// One step instance of a run. `step_key` is unique in the run: the step id, or a path such as
/// `loop[3].fetch` for a step inside a `foreach` body.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub run_id: Uuid,
    pub step_key: String,
    pub step_id: String,
    pub org_id: OrgId,
    pub status: String,
    /// Attempts started so far (0 before the first claim).
    pub attempt: i32,
    /// Predecessors still to finish before a join becomes ready.
    pub remaining: i32,
    pub input: Option<serde_json::Value>,
    pub output: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
    /// Copied from the run for claim ordering.
    pub priority: i32,
    pub ready_at: Option<DateTime<Utc>>,
    pub wake_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl StepRecord {
    /// Whether a claim at `at` may take this step: `ready` and due.
    pub fn is_due(&self, at: DateTime<Utc>) -> bool {
        self.status == step_status::READY && self.ready_at.is_some_and(|ready| ready <= at)
    }

    /// The step as a claim at `at` leaves it: `running` under `owner` until `lease_until`,
    /// started at `at`, one attempt more.
    pub fn claimed(self, owner: &str, lease_until: DateTime<Utc>, at: DateTime<Utc>) -> StepRecord {
        StepRecord {
            status: step_status::RUNNING.to_owned(),
            attempt: self.attempt + 1,
            lease_owner: Some(owner.to_owned()),
            lease_expires_at: Some(lease_until),
            started_at: Some(at),
            updated_at: at,
            ..self
        }
    }
}

/// One execution attempt of a step, kept for history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub run_id: Uuid,
    pub step_key: String,
    pub attempt: i32,
    /// `completed`, `failed`, `retrying`, `timed_out`, `interrupted`.
    pub outcome: String,
    pub error: Option<serde_json::Value>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The lease owner (worker) that ran the attempt.
    #[serde(default)]
    pub worker: Option<String>,
}

/// Identifies the lease under which a worker ran a step; a transition guarded by it applies only
/// while the step is still `running` under that owner and attempt, so a stale worker (whose lease
/// expired and whose step was re-claimed) cannot overwrite the newer attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseGuard {
    pub step_key: String,
    pub owner: String,
    pub attempt: i32,
}

/// A change to an existing step instance.
#[derive(Clone, Debug, PartialEq)]
pub enum StepChange {
    /// Overwrites status, output, error, ready_at, wake_at, completed_at; clears the lease.
    Set {
        step_key: String,
        status: String,
        output: Option<serde_json::Value>,
        error: Option<serde_json::Value>,
        ready_at: Option<DateTime<Utc>>,
        wake_at: Option<DateTime<Utc>>,
        completed_at: Option<DateTime<Utc>>,
    },
    /// One predecessor of a join finished: `remaining -= 1`; at 0 a `pending` step becomes `ready`
    /// with `ready_at = at`. Atomic on both dialects, so concurrent branches fire the join once.
    ArriveAtJoin { step_key: String, at: DateTime<Utc> },
}

/// New values for the run row.
#[derive(Clone, Debug, PartialEq)]
pub struct RunChange {
    pub status: String,
    pub output: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Everything one engine decision writes, in one transaction (several are group-committed together).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transition {
    pub run_id: Uuid,
    pub org_id: Option<OrgId>,
    pub guard: Option<LeaseGuard>,
    /// `(step_key, status)`: the transition applies only while that step has that status (an
    /// outside signal — approval, event, timeout — moves a `waiting` step at most once).
    pub expect_status: Option<(String, String)>,
    pub step_changes: Vec<StepChange>,
    /// Inserted; a key that already exists in the run is left as it is (idempotent scheduling).
    pub new_steps: Vec<StepRecord>,
    pub attempt: Option<AttemptRecord>,
    pub run_change: Option<RunChange>,
    pub events: Vec<SystemEvent>,
    pub at: DateTime<Utc>,
    /// When not empty, the transition applies only while the run's status is one of these (the
    /// run row is locked first, so concurrent transitions of one run see each other's outcome).
    pub run_status_in: Vec<String>,
    /// Inserted (as given) only when, after this transition, no other step of the run is still
    /// open (`ready`, `pending`, `waiting`, `running`): the run's finishing step, scheduled in the
    /// same transaction as the result that ended its last path (the run row is locked first).
    pub finish_step: Option<StepRecord>,
    /// Steps the committing worker takes on in the same transaction, sparing a claim round trip.
    pub claim_after: Option<ClaimAfter>,
}

/// New steps of a transition that its worker takes on at once: those of `keys` that are `ready`
/// and due at the transition's `at` are inserted already claimed — `running` under `owner` until
/// `lease_until`, attempt 1, started at `at` — while the run (after the transition) is `running` or
/// `waiting`. A key the run already has is left as it is, and not claimed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClaimAfter {
    pub owner: String,
    pub lease_until: DateTime<Utc>,
    pub keys: Vec<String>,
}

/// What a group commit did with one transition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Committed {
    pub applied: bool,
    /// The steps its `claim_after` claimed, as they are after the claim.
    pub claimed: Vec<StepRecord>,
}

/// Filters for listing runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFilter {
    pub workflow_id: Option<Uuid>,
    pub status: Option<String>,
    pub trigger: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    pub rerun_of: Option<Uuid>,
}

/// One run of a group of starts (`WorkflowRepo::create_runs`): the run, its entry steps and what
/// its start announces, and for a triggered run the trigger's receipt (and cron tick claim).
#[derive(Clone, Debug)]
pub struct NewRun {
    pub run: RunRecord,
    pub steps: Vec<StepRecord>,
    pub effects: crate::records::Effects,
    pub receipt: Option<crate::trigger_records::TriggerReceipt>,
    pub advance: Option<crate::trigger_records::CronAdvance>,
}
