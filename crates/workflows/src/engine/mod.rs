//! The durable executor. Workers claim due step instances with a lease, execute them, and hand the
//! resulting transitions to a group committer that writes many in one transaction. State is always
//! written before it is acted on: a step runs only after its claim committed, and its successors
//! exist only once its result committed (in the same transaction). A crash loses nothing: a step
//! whose lease expires is claimed again with the same idempotency key.

mod ai;
mod commit;
mod context;
pub mod control;
mod dispatch;
mod execute;
pub mod finish;
mod gauges;
mod group;
pub mod http;
pub mod keys;
pub mod live;
mod notify;
mod outcome;
mod plan;
mod process;
pub mod redact;
mod saga;
pub mod service;
pub mod signals;
mod starts;
mod subworkflow;
mod waits;

use auterity_store::{OrgScope, Store, StoreError};
use auterity_types::workflow_records::{RunRecord, StepRecord, step_status};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, watch};

pub use commit::Committer;
pub use outcome::Outcome;
pub use starts::RunStarts;

use crate::definition::WorkflowDefinition;
use crate::expr::ValueTemplate;
use keys::{JOIN_SUFFIX, Scope, step_id_of_key};

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// Steps executing at once in this process.
    pub concurrency: usize,
    /// Longest sleep between polls when idle (other processes may have scheduled work).
    pub idle_poll: Duration,
    /// Identifies this worker in leases.
    pub owner: String,
    /// Outside services of `ai` and `notify` steps (`[workflows]` in the configuration).
    pub services: auterity_config::WorkflowsConfig,
    /// Outbound HTTP of `http` steps (and `notify`, webhooks): egress policy, timeouts, size limit.
    pub outbound: crate::outbound::Outbound,
    /// Whether private ranges are denied for organizations that have not chosen themselves.
    pub deny_private: bool,
    /// Where `secrets.NAME` comes from; without one, any secret reference fails its step.
    pub secrets: Option<Arc<crate::secrets::SecretService>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            concurrency: 256,
            idle_poll: Duration::from_millis(250),
            owner: format!("worker-{}", uuid::Uuid::now_v7()),
            services: auterity_config::WorkflowsConfig::default(),
            outbound: crate::outbound::Outbound::default(),
            deny_private: false,
            secrets: None,
        }
    }
}

/// How long the worker loop trusts its last look at the queue's timers while steps keep waking it.
const RECHECK: Duration = Duration::from_millis(50);

/// Parsed definitions by (workflow id, version): versions are immutable, so the cache never goes stale.
type DefinitionCache = Mutex<HashMap<(uuid::Uuid, i32), Arc<WorkflowDefinition>>>;
/// What a run start of one version needs, parsed and compiled once (versions are immutable).
pub(crate) struct StartPlan {
    pub(crate) definition: Arc<WorkflowDefinition>,
    pub(crate) inputs: crate::validate::InputSchemas,
}
type StartPlanCache = Mutex<HashMap<(uuid::Uuid, i32), Arc<StartPlan>>>;
/// Entries a version cache holds before it starts over (a bound, not an eviction policy: the
/// versions in use are read again on the next miss).
const VERSION_CACHE_MAX: usize = 4096;
/// What each definition version's expressions read from outside the run (`secrets`, `env`).
type ReferenceCache = Mutex<HashMap<(uuid::Uuid, i32), Arc<crate::expr::References>>>;

/// What a run's expressions read from outside the run, loaded for one step ([`Engine::outside_values`]).
pub(super) struct OutsideValues {
    pub secrets: std::collections::BTreeMap<String, secrecy::SecretString>,
    pub env: serde_json::Map<String, serde_json::Value>,
    /// How the step ends when either could not be loaded.
    pub failed: Option<Outcome>,
}

pub struct Engine {
    store: Store,
    config: EngineConfig,
    committer: Committer,
    starts: RunStarts,
    wake: Arc<Notify>,
    definitions: DefinitionCache,
    start_plans: StartPlanCache,
    /// The secrets and `env` each definition version reads (compiling every expression per step
    /// would cost more than the step itself).
    references: ReferenceCache,
    in_flight: Mutex<HashMap<(uuid::Uuid, String), i32>>,
    /// One per step executing in this process (`concurrency`); a step's successors claimed with
    /// its result take more when free.
    permits: Arc<Semaphore>,
    /// Set once the worker loop stopped: steps in flight then claim no successors.
    stopping: std::sync::atomic::AtomicBool,
    /// Set when the worker loop starts: only then does a run start take its entry steps
    /// (`claim_at_start`); a process without the worker role leaves them to the workers.
    working: std::sync::atomic::AtomicBool,
    /// The earliest timer this process scheduled since the loop last read the queue's (a retry's
    /// backoff, a `delay`), so that the loop's cached view never oversleeps it.
    scheduled_due: Mutex<Option<chrono::DateTime<Utc>>>,
}

impl Engine {
    pub fn new(store: Store, events: auterity_events::Events, config: EngineConfig) -> Arc<Self> {
        let committer = Committer::start(store.clone(), events.clone());
        let starts = RunStarts::start(store.clone(), events.clone());
        Arc::new(Self {
            store,
            permits: Arc::new(Semaphore::new(config.concurrency)),
            config,
            committer,
            starts,
            wake: Arc::new(Notify::new()),
            definitions: Mutex::new(HashMap::new()),
            start_plans: Mutex::new(HashMap::new()),
            references: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            working: std::sync::atomic::AtomicBool::new(false),
            scheduled_due: Mutex::new(None),
        })
    }

    /// When a claim this process makes at `at` expires without a heartbeat.
    fn lease_until(&self, at: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
        at + chrono::Duration::from_std(self.config.lease).unwrap_or_default()
    }

    /// Wakes the worker loop (new run, signal).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Tells the worker loop that a step of this process's making becomes due at `at`.
    fn schedule_due(&self, at: chrono::DateTime<Utc>) {
        if let Ok(mut due) = self.scheduled_due.lock() {
            *due = Some(due.map_or(at, |d| d.min(at)));
        }
        self.wake.notify_one();
    }

    /// The earliest timer scheduled by [`Self::schedule_due`], forgotten once it is due (the
    /// loop then reads the queue itself).
    fn local_due(&self) -> Option<chrono::DateTime<Utc>> {
        let mut due = self.scheduled_due.lock().ok()?;
        match *due {
            Some(at) if at <= Utc::now() => {
                *due = None;
                Some(at)
            }
            other => other,
        }
    }

    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    /// Where runs are started (group-committed).
    pub fn starts(&self) -> &RunStarts {
        &self.starts
    }

    /// The outbound client every call made for a workflow goes through.
    pub fn outbound(&self) -> &crate::outbound::Outbound {
        &self.config.outbound
    }

    /// Whether `org` denies private ranges: its own choice, else the configured default. When the
    /// choice cannot be read, private ranges are denied (fail closed).
    pub async fn deny_private_for(&self, org: auterity_types::OrgId) -> bool {
        match self.store.outbound.get_egress_setting(OrgScope(org)).await {
            Ok(setting) => setting.deny_private.unwrap_or(self.config.deny_private),
            Err(error) => {
                tracing::warn!(%error, "reading the organization's egress setting failed; denying private ranges");
                true
            }
        }
    }

    /// What the run's definition reads from outside the run, compiled once per version.
    fn references(&self, definition: &WorkflowDefinition, run: &RunRecord) -> Arc<crate::expr::References> {
        let key = (run.workflow_id, run.version);
        if let Some(found) = self.references.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
            return found;
        }
        let references = Arc::new(context::definition_references(definition));
        cache_version(&self.references, key, references.clone());
        references
    }

    /// The secrets and variables the run's expressions read, loaded for one evaluation; with how
    /// a step ends when either could not be loaded (`unavailable` when the store failed).
    pub(super) async fn outside_values(&self, definition: &WorkflowDefinition, run: &RunRecord) -> OutsideValues {
        use crate::definition::ErrorClass;
        let references = self.references(definition, run);
        let mut failed = None;
        let secrets = match redact::load(self.config.secrets.as_deref(), run.org_id, &references.secrets).await {
            Ok(secrets) => secrets,
            Err(error) => {
                tracing::warn!(%error, run_id = %run.id, "loading the run's secrets failed");
                let class = match error {
                    crate::secrets::SecretError::Store(_) => ErrorClass::Unavailable,
                    _ => ErrorClass::Internal,
                };
                failed = Some(Outcome::failed(class, format!("secrets: {error}")));
                Default::default()
            }
        };
        let env = match self.load_env(&references, run).await {
            Ok(env) => env,
            Err(error) => {
                tracing::warn!(%error, run_id = %run.id, "loading the organization's variables failed");
                failed.get_or_insert_with(|| Outcome::failed(ErrorClass::Unavailable, format!("env: {error}")));
                Default::default()
            }
        };
        OutsideValues { secrets, env, failed }
    }

    /// The organization's variables when the run's definition reads `env` (a `wait_event`
    /// filter's context).
    pub(super) async fn run_env(
        &self,
        definition: &WorkflowDefinition,
        run: &RunRecord,
    ) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
        self.load_env(&self.references(definition, run), run).await
    }

    /// The organization's variables when `references` read `env` (else none, unread).
    async fn load_env(
        &self,
        references: &crate::expr::References,
        run: &RunRecord,
    ) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
        if !references.variables.contains("env") {
            return Ok(serde_json::Map::new());
        }
        crate::variables::env(&self.store, run.org_id).await
    }

    /// The start plan of `version` of a workflow whose definition is `definition` (as stored).
    pub(crate) fn start_plan(
        &self,
        workflow_id: uuid::Uuid,
        version: i32,
        definition: &serde_json::Value,
    ) -> Result<Arc<StartPlan>, serde_json::Error> {
        let key = (workflow_id, version);
        if let Some(found) = self.start_plans.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
            return Ok(found);
        }
        let parsed = match self.definitions.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
            Some(parsed) => parsed,
            None => {
                let parsed: Arc<WorkflowDefinition> = Arc::new(serde_json::from_value(definition.clone())?);
                cache_version(&self.definitions, key, parsed.clone());
                parsed
            }
        };
        let plan = Arc::new(StartPlan { inputs: crate::validate::InputSchemas::compile(&parsed), definition: parsed });
        cache_version(&self.start_plans, key, plan.clone());
        Ok(plan)
    }

    pub(crate) async fn definition(&self, run: &RunRecord) -> Result<Arc<WorkflowDefinition>, String> {
        if let Some(found) =
            self.definitions.lock().ok().and_then(|cache| cache.get(&(run.workflow_id, run.version)).cloned())
        {
            return Ok(found);
        }
        let version = self
            .store
            .workflows
            .get_workflow_version(OrgScope(run.org_id), run.workflow_id, run.version)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "workflow version not found".to_owned())?;
        let definition: WorkflowDefinition = serde_json::from_value(version.definition).map_err(|e| e.to_string())?;
        let definition = Arc::new(definition);
        cache_version(&self.definitions, (run.workflow_id, run.version), definition.clone());
        Ok(definition)
    }

    /// Runs the worker loop and the lease heartbeat until `shutdown` flips.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let permits = self.permits.clone();
        self.working.store(true, std::sync::atomic::Ordering::SeqCst);
        let heartbeat = tokio::spawn(self.clone().heartbeat_loop(shutdown.clone()));
        let gauges = tokio::spawn(self.clone().gauge_loop(shutdown.clone()));
        let mut last_sweep = Instant::now() - Duration::from_secs(1);
        // `next_due` as last read, and when: a busy loop is woken by every step that ends, and the
        // query (three index walks over a churning queue) must not run at that rate.
        let mut due_cache: Option<(Instant, Option<chrono::DateTime<Utc>>)> = None;
        let mut timer_fired = true;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = permits.available_permits();
            let mut claimed = Vec::new();
            if free > 0 {
                let now = Utc::now();
                let lease_until = self.lease_until(now);
                match self.store.workflows.claim_steps(&self.config.owner, now, lease_until, free.min(256) as u32).await
                {
                    Ok(steps) => claimed = steps,
                    Err(error) => tracing::warn!(%error, "claiming steps failed"),
                }
            }
            let got_work = !claimed.is_empty();
            // Timed-out waits: when their timer fired, when idle (at most every `RECHECK`), and
            // at least once a second.
            let since_sweep = last_sweep.elapsed();
            if timer_fired || since_sweep >= Duration::from_secs(1) || (!got_work && since_sweep >= RECHECK) {
                last_sweep = Instant::now();
                self.wake_due_waits().await;
            }
            for step in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                self.clone().spawn_step(step, None, permit);
            }
            if got_work {
                timer_fired = false;
                continue;
            }
            let sleep = if free == 0 {
                // Full: the next step to end wakes the loop.
                self.config.idle_poll
            } else {
                let stored = match due_cache {
                    Some((read, due)) if !timer_fired && read.elapsed() < RECHECK => due,
                    _ => {
                        let due = self.store.workflows.next_due().await.ok().flatten();
                        due_cache = Some((Instant::now(), due));
                        due
                    }
                };
                let due = match (stored, self.local_due()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                match due {
                    // A due step nobody could claim (another worker's lock): look again shortly.
                    Some(due) => {
                        (due - Utc::now()).to_std().unwrap_or(Duration::from_millis(1)).min(self.config.idle_poll)
                    }
                    None => self.config.idle_poll,
                }
            };
            timer_fired = tokio::select! {
                _ = self.wake.notified() => false,
                _ = tokio::time::sleep(sleep) => true,
                _ = shutdown.changed() => false,
            };
        }
        // Steps in flight finish, but take on no successors.
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        heartbeat.abort();
        gauges.abort();
        // Let in-flight steps finish their commits (bounded); unfinished ones are re-claimed later.
        let deadline = Instant::now() + Duration::from_secs(5);
        while permits.available_permits() < self.config.concurrency && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn heartbeat_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = self.config.lease / 3;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.changed() => return,
            }
            let leases: Vec<(uuid::Uuid, String, i32)> = match self.in_flight.lock() {
                Ok(map) => map.iter().map(|((run, key), attempt)| (*run, key.clone(), *attempt)).collect(),
                Err(_) => continue,
            };
            if leases.is_empty() {
                continue;
            }
            let until = Utc::now() + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
            if let Err(error) = self.store.workflows.heartbeat(&self.config.owner, &leases, until).await {
                tracing::warn!(%error, "lease heartbeat failed");
            }
        }
    }

    /// All parallel branches / foreach items have ended: the container completes with their outputs.
    fn join_outcome(
        &self,
        definition: &WorkflowDefinition,
        run: &RunRecord,
        steps: &[StepRecord],
        join: &StepRecord,
        secrets: &std::collections::BTreeMap<String, secrecy::SecretString>,
        env: &serde_json::Map<String, serde_json::Value>,
    ) -> Outcome {
        let container_key = join.step_key.trim_end_matches(JOIN_SUFFIX);
        let Some(container) = definition.step(step_id_of_key(container_key)) else {
            return Outcome::failed(crate::definition::ErrorClass::Internal, "join without a container");
        };
        let scope_output = |scope: &Scope, block: &crate::definition::Block| -> serde_json::Value {
            let prefix = scope.prefix();
            if let Some(template) = &block.output {
                let mut context = context::build(run, steps, &format!("{prefix}_"));
                context.secrets = secrets.clone();
                context.env = env.clone();
                return ValueTemplate::compile(template)
                    .and_then(|t| t.render(&context))
                    .unwrap_or(serde_json::Value::Null);
            }
            steps
                .iter()
                .filter(|s| s.status == step_status::COMPLETED)
                .filter(|s| {
                    s.step_key.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/') && !rest.contains('#'))
                })
                .max_by_key(|s| s.completed_at)
                .and_then(|s| s.output.clone())
                .unwrap_or(serde_json::Value::Null)
        };
        let output = match &container.kind {
            crate::definition::StepKind::Parallel(parallel) => {
                let mut map = serde_json::Map::new();
                for branch in &parallel.branches {
                    let scope = Scope::Branch { container_key: container_key.to_owned(), branch: branch.name.clone() };
                    map.insert(branch.name.clone(), scope_output(&scope, &branch.block));
                }
                serde_json::Value::Object(map)
            }
            crate::definition::StepKind::Foreach(foreach) => {
                let count = steps
                    .iter()
                    .find(|s| s.step_key == container_key)
                    .and_then(|s| s.output.as_ref())
                    .and_then(|o| o.get("items"))
                    .and_then(serde_json::Value::as_array)
                    .map(Vec::len)
                    .unwrap_or(0);
                serde_json::Value::Array(
                    (0..count)
                        .map(|index| {
                            scope_output(&Scope::Item { container_key: container_key.to_owned(), index }, &foreach.body)
                        })
                        .collect(),
                )
            }
            _ => serde_json::Value::Null,
        };
        // The join completes the container; `plan` then schedules the container's successors.
        Outcome::Completed { output, next: None }
    }
}

/// Remembers `value` for a workflow version, starting the cache over when it is full.
fn cache_version<T>(cache: &Mutex<HashMap<(uuid::Uuid, i32), T>>, key: (uuid::Uuid, i32), value: T) {
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= VERSION_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, value);
    }
}
