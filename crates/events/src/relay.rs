//! The outbox relay: publishes committed outbox rows to the bus in `seq` order and marks them
//! published. An event reaches the bus if and only if the transaction that wrote it committed;
//! a crash between publish and mark republishes (at-least-once; consumers dedupe by `event_id`).

use auterity_store::{OutboxRepo, StoreError};
use auterity_types::SystemEvent;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::{EventBus, EventFilter, EventStream};

const BATCH: u32 = 256;
const IDLE_POLL: Duration = Duration::from_millis(500);

/// The facade parts use: record events, wake the relay, subscribe.
#[derive(Clone)]
pub struct Events {
    outbox: Arc<dyn OutboxRepo>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
}

impl Events {
    pub fn new(outbox: Arc<dyn OutboxRepo>, bus: Arc<dyn EventBus>) -> Self {
        Self { outbox, bus, wake: Arc::new(Notify::new()) }
    }

    /// Records events that accompany no other change, then wakes the relay.
    pub async fn emit(&self, events: &[SystemEvent]) -> Result<(), StoreError> {
        self.outbox.append_events(events).await?;
        self.committed();
        Ok(())
    }

    /// Tells the relay that a transaction carrying outbox rows has committed.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    pub fn subscribe(&self, filter: EventFilter) -> EventStream {
        self.bus.subscribe(filter)
    }

    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.bus
    }

    /// Starts the relay task; it stops when `shutdown` resolves.
    pub fn start_relay(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> JoinHandle<()> {
        let relay = OutboxRelay { outbox: self.outbox.clone(), bus: self.bus.clone(), wake: self.wake.clone() };
        tokio::spawn(relay.run(shutdown))
    }
}

pub struct OutboxRelay {
    outbox: Arc<dyn OutboxRepo>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
}

impl OutboxRelay {
    async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.relay_once().await {
                Ok(relayed) if relayed == BATCH as usize => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "outbox relay failed; retrying"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.changed() => {
                    let _ = self.relay_once().await;
                    return;
                }
            }
        }
    }

    /// Relays one batch; returns how many events it published.
    pub async fn relay_once(&self) -> Result<usize, StoreError> {
        let records = self.outbox.fetch_unpublished(0, BATCH).await?;
        let mut published = Vec::with_capacity(records.len());
        for record in &records {
            if let Err(error) = self.bus.publish(&record.event).await {
                tracing::warn!(%error, seq = record.seq, "bus publish failed; will retry");
                break;
            }
            published.push(record.seq);
        }
        if !published.is_empty() {
            self.outbox.mark_published(&published, Utc::now()).await?;
        }
        Ok(published.len())
    }
}
