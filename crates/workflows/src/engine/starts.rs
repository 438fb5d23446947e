//! Group commit of run starts: manual starts, re-runs and triggered runs (webhook, event, cron)
//! queue here and are written with the others of their batch in one
//! transaction (`WorkflowRepo::create_runs`); each answers on its own.

use auterity_store::{Store, StoreError};
use auterity_types::workflow_records::NewRun;

use super::group::GroupQueue;

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
