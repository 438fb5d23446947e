//! Group commit of transitions: every executing step's result queues here and is written with
//! the others of its batch in one transaction (`WorkflowRepo::commit_and_claim`).

use auterity_store::{Store, StoreError};
use auterity_types::workflow_records::{Committed, StepRecord, Transition};

use super::group::GroupQueue;

const MAX_BATCH: usize = 512;

#[derive(Clone)]
pub struct Committer {
    queue: GroupQueue<Transition, Committed>,
}

impl Committer {
    pub fn start(store: Store, events: auterity_events::Events) -> Self {
        let queue = GroupQueue::start(MAX_BATCH, "commit", move |transitions: Vec<Transition>| {
            let (store, events) = (store.clone(), events.clone());
            async move {
                let committed = store.workflows.commit_and_claim(&transitions).await?;
                if transitions.iter().any(|t| !t.events.is_empty()) {
                    events.committed();
                }
                Ok(committed)
            }
        });
        Self { queue }
    }

    /// Queues a transition and waits until it is durable; `Ok(false)` when its lease guard failed.
    pub async fn commit(&self, transition: Transition) -> Result<bool, StoreError> {
        Ok(self.commit_and_claim(transition).await?.is_some())
    }

    /// [`Self::commit`], answering the steps its `claim_after` claimed; `None` when it did not apply.
    pub async fn commit_and_claim(&self, transition: Transition) -> Result<Option<Vec<StepRecord>>, StoreError> {
        let committed = self.queue.submit(transition).await?;
        Ok(committed.applied.then_some(committed.claimed))
    }
}
