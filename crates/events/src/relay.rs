//! The outbox relay: hands committed outbox rows, in `seq` order, to the durable consumers (which
//! record what they do with them), then publishes them to the bus and marks them published. An
//! event reaches consumers and bus if and only if the transaction that wrote it committed; a crash
//! before the mark hands it over again (at-least-once; consumers dedupe by `event_id`), so no
//! consumer misses an event however the process stops or however far a bus subscriber lags.

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
/// Times a consumer may fail on one event before the relay gives up on it (logs it as
/// dead-lettered and moves on), so that one poison event cannot stop every later one.
pub const MAX_CONSUMER_ATTEMPTS: u32 = 5;

/// A durable consumer of committed events (workflow waits, event triggers). `consume` returns
/// once it has recorded its effects; it must be idempotent by `event_id`, since a batch is handed
/// over again after a crash or a failure. An `Err` means "retry later" (the store was
/// unavailable); a consumer logs and skips what no retry can fix.
#[async_trait::async_trait]
pub trait OutboxConsumer: Send + Sync {
    fn name(&self) -> &'static str;
    async fn consume(&self, events: &[SystemEvent]) -> Result<(), String>;
}

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

    /// The relay over this outbox and bus, handing events to `consumers` first.
    pub fn relay(&self, consumers: Vec<Arc<dyn OutboxConsumer>>) -> OutboxRelay {
        OutboxRelay {
            outbox: self.outbox.clone(),
            bus: self.bus.clone(),
            wake: self.wake.clone(),
            consumers,
            stuck: None,
        }
    }

    /// Starts the relay task; it stops when `shutdown` resolves.
    pub fn start_relay(
        &self,
        consumers: Vec<Arc<dyn OutboxConsumer>>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(self.relay(consumers).run(shutdown))
    }
}

pub struct OutboxRelay {
    outbox: Arc<dyn OutboxRepo>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    consumers: Vec<Arc<dyn OutboxConsumer>>,
    /// The event (outbox `seq`) the consumers last failed on, and how many times in a row. The
    /// relay stops at a failing event, so it is the head of the next batch until it goes through.
    stuck: Option<(i64, u32)>,
}

impl OutboxRelay {
    async fn run(mut self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
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
    pub async fn relay_once(&mut self) -> Result<usize, StoreError> {
        let (mut seqs, events): (Vec<i64>, Vec<SystemEvent>) =
            self.outbox.fetch_unpublished(0, BATCH).await?.into_iter().map(|r| (r.seq, r.event)).unzip();
        let consumed = self.hand_over(&seqs, &events).await;
        let mut published = 0;
        for (seq, event) in seqs.iter().zip(&events).take(consumed) {
            if let Err(error) = self.bus.publish(event).await {
                tracing::warn!(%error, seq, "bus publish failed; will retry");
                break;
            }
            published += 1;
        }
        seqs.truncate(published);
        if !seqs.is_empty() {
            self.outbox.mark_published(&seqs, Utc::now()).await?;
        }
        Ok(seqs.len())
    }

    /// Hands `events` (outbox `seqs`) to every consumer; returns how many of them (a prefix) went
    /// through. On a failure the batch is retried event by event, so that the events before a
    /// failing one go on, and an event that failed [`MAX_CONSUMER_ATTEMPTS`] times is given up on.
    async fn hand_over(&mut self, seqs: &[i64], events: &[SystemEvent]) -> usize {
        if events.is_empty() || self.consumers.is_empty() || self.consume(events).await.is_ok() {
            self.stuck = None;
            return events.len();
        }
        for (index, (&seq, event)) in seqs.iter().zip(events).enumerate() {
            let Err(error) = self.consume(std::slice::from_ref(event)).await else {
                self.stuck = None;
                continue;
            };
            let attempts = match self.stuck {
                Some((stuck, attempts)) if stuck == seq => attempts + 1,
                _ => 1,
            };
            if attempts < MAX_CONSUMER_ATTEMPTS {
                tracing::warn!(seq, event_id = %event.event_id, %error, "an event consumer failed; will retry");
                self.stuck = Some((seq, attempts));
                return index;
            }
            tracing::error!(
                seq,
                event_id = %event.event_id,
                event_type = %event.event_type,
                attempts,
                %error,
                "an event consumer kept failing; the event is dead-lettered for consumers and goes on to the bus"
            );
            self.stuck = None;
        }
        events.len()
    }

    async fn consume(&self, events: &[SystemEvent]) -> Result<(), String> {
        for consumer in &self.consumers {
            consumer.consume(events).await.map_err(|error| format!("{}: {error}", consumer.name()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InProcessBus;
    use auterity_store::{Store, StoreOptions};
    use std::sync::Mutex;

    /// Records what it is handed; fails on events whose type is in `failing`.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<String>>,
        failing: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl OutboxConsumer for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }

        async fn consume(&self, events: &[SystemEvent]) -> Result<(), String> {
            let failing = self.failing.lock().unwrap().clone();
            if let Some(bad) = events.iter().find(|e| failing.contains(&e.event_type)) {
                return Err(format!("cannot take {}", bad.event_type));
            }
            self.seen.lock().unwrap().extend(events.iter().map(|e| e.event_type.clone()));
            Ok(())
        }
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("relay.db").display());
        let store = Store::connect(&StoreOptions::new(url)).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    fn event(kind: &str) -> SystemEvent {
        SystemEvent::new(kind, "test", None, serde_json::Value::Null)
    }

    /// A relay over a fresh store whose one consumer fails on events of type `failing`.
    async fn relay_failing_on(failing: &str) -> (tempfile::TempDir, Store, Events, Arc<Recorder>, OutboxRelay) {
        let (dir, store) = store().await;
        let events = Events::new(store.outbox.clone(), Arc::new(InProcessBus::default()));
        let recorder = Arc::new(Recorder::default());
        recorder.failing.lock().unwrap().push(failing.into());
        let relay = events.relay(vec![recorder.clone()]);
        (dir, store, events, recorder, relay)
    }

    #[tokio::test]
    async fn an_event_stays_unpublished_until_every_consumer_took_it() {
        let (_dir, store, events, recorder, mut relay) = relay_failing_on("b").await;
        events.emit(&[event("a"), event("b"), event("c")]).await.unwrap();

        // `a` goes through; `b` fails, so neither it nor `c` is published or handed on.
        assert_eq!(relay.relay_once().await.unwrap(), 1);
        assert_eq!(*recorder.seen.lock().unwrap(), ["a"]);
        let left: Vec<String> =
            store.outbox.fetch_unpublished(0, 10).await.unwrap().into_iter().map(|r| r.event.event_type).collect();
        assert_eq!(left, ["b", "c"]);

        // Once the consumer recovers, the rest goes through in order, each event once.
        recorder.failing.lock().unwrap().clear();
        assert_eq!(relay.relay_once().await.unwrap(), 2);
        assert_eq!(*recorder.seen.lock().unwrap(), ["a", "b", "c"]);
        assert!(store.outbox.fetch_unpublished(0, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_poison_event_is_given_up_on_after_the_attempt_limit() {
        let (_dir, _store, events, recorder, mut relay) = relay_failing_on("poison").await;
        let mut bus = events.subscribe(EventFilter::all());
        events.emit(&[event("poison"), event("after")]).await.unwrap();

        for _ in 1..MAX_CONSUMER_ATTEMPTS {
            assert_eq!(relay.relay_once().await.unwrap(), 0);
        }
        assert_eq!(relay.relay_once().await.unwrap(), 2);
        assert_eq!(*recorder.seen.lock().unwrap(), ["after"]);
        use futures::StreamExt as _;
        assert_eq!(bus.next().await.unwrap().event_type, "poison");
        assert_eq!(bus.next().await.unwrap().event_type, "after");
    }
}
