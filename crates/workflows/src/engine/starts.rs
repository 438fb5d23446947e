//! Group commit of run starts: manual starts, re-runs and triggered runs (webhook, event, cron)
//! queue here and are written with the others of their batch in one
//! transaction (`WorkflowRepo::create_runs`); each answers on its own. A worker process takes a
//! start's entry steps in that same transaction and runs them once it committed, as a step's
//! commit claims its successors: no claim query, no read of the run.

use auterity_store::{Store, StoreError};
use auterity_types::workflow_records::{NewRun, run_status};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::OwnedSemaphorePermit;

use super::Engine;
use super::group::GroupQueue;
use super::process::RunView;

const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct RunStarts {
    queue: GroupQueue<NewRun, Result<bool, StoreError>>,
}

impl RunStarts {
    pub fn start(store: Store, events: auterity_events::Events) -> Self {
        let queue = GroupQueue::start(MAX_BATCH, "start", move |runs: Vec<NewRun>| {
            let (store, events) = (store.clone(), events.clone());
            async move {
                let outcome = store.workflows.create_runs(&runs).await?;
                if runs.iter().any(|r| !r.effects.events.is_empty()) {
                    events.committed();
                }
                Ok(outcome)
            }
        });
        Self { queue }
    }

    /// Queues a start and waits until it is durable: `Ok(true)` written, `Ok(false)` its receipt
    /// exists or its cron tick was taken (nothing written).
    pub async fn write(&self, run: NewRun) -> Result<bool, StoreError> {
        self.queue.submit(run).await?
    }
}

/// The entry steps of a start that this process took (`Engine::claim_at_start`), in the view of
/// the run they start from; run by `Engine::run_claimed` once the start is written, dropped
/// (their permits freed) when it is not.
pub(crate) struct StartClaims {
    view: RunView,
    permits: Vec<OwnedSemaphorePermit>,
}

impl Engine {
    /// Takes `start`'s entry steps that are due now, as a claim does (`running`, one attempt more,
    /// leased to this worker, started now), so that they are written claimed with the start; as
    /// many as this process has permits free, and only while its worker loop runs and the run
    /// starts `running` (a flow-limited run waits `pending` for admission). `None` when it took none.
    pub(crate) fn claim_at_start(&self, start: &mut NewRun) -> Option<StartClaims> {
        if !self.working.load(Ordering::SeqCst)
            || self.stopping.load(Ordering::SeqCst)
            || start.run.status != run_status::RUNNING
        {
            return None;
        }
        let now = chrono::Utc::now();
        let lease_until = self.lease_until(now);
        let mut permits = Vec::new();
        for step in &mut start.steps {
            if !step.is_due(now) {
                continue;
            }
            let Ok(permit) = self.permits.clone().try_acquire_owned() else { break };
            *step = step.clone().claimed(&self.config.owner, lease_until, now);
            permits.push(permit);
        }
        if permits.is_empty() {
            return None;
        }
        // Not `whole`: a failure or a join reads the run again, as after any claim.
        let view = RunView { run: start.run.clone(), steps: start.steps.clone(), whole: false };
        Some(StartClaims { view, permits })
    }

    /// Runs the steps `claims` took, now that their start is written.
    pub(crate) fn run_claimed(self: &Arc<Self>, claims: StartClaims) {
        let StartClaims { view, permits } = claims;
        let owner = Some(self.config.owner.as_str());
        let claimed = view.steps.iter().filter(|s| s.lease_owner.as_deref() == owner).cloned().collect::<Vec<_>>();
        for (step, permit) in claimed.into_iter().zip(permits) {
            self.clone().spawn_step(step, Some(view.clone()), permit);
        }
    }
}
