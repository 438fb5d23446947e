//! The trigger worker, run by the `worker` role: fires due cron ticks (sleeping until the next
//! one, at most [`MAX_SCHEDULER_SLEEP`]), purges expired receipts, and hands every published
//! event to the event triggers. Several workers may run against one PostgreSQL database: a tick
//! is claimed by a conditional update and an event by its receipt, so each starts one run.

use std::sync::Arc;
use std::time::Duration;

use auterity_events::EventStream;
use chrono::Utc;
use futures::StreamExt as _;
use tokio::sync::watch;

use super::service::{MAX_SCHEDULER_SLEEP, TriggerService};

/// How often expired webhook receipts are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Runs the cron scheduler until `shutdown` turns true.
pub async fn run_scheduler(service: Arc<TriggerService>, mut shutdown: watch::Receiver<bool>) {
    let mut last_purge = tokio::time::Instant::now();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = Utc::now();
        if let Err(error) = service.fire_due_cron(now).await {
            tracing::warn!(%error, "cron scheduling failed; retrying");
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = tokio::time::Instant::now();
            if let Err(error) = service.purge_receipts(now).await {
                tracing::warn!(%error, "purging trigger receipts failed");
            }
        }
        let sleep = match service.next_cron_fire().await {
            Ok(Some(next)) => (next - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(MAX_SCHEDULER_SLEEP),
            Ok(None) => MAX_SCHEDULER_SLEEP,
            Err(_) => MAX_SCHEDULER_SLEEP,
        };
        // Never spin: a tick that is due but cannot be written waits a little.
        let sleep = sleep.max(Duration::from_millis(20));
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Delivers every event of `stream` (a subscription to all events, taken before the outbox relay
/// starts) to the event triggers until `shutdown` turns true.
pub async fn run_event_listener(
    service: Arc<TriggerService>,
    mut stream: EventStream,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            next = stream.next() => {
                let Some(event) = next else { return };
                if let Err(error) = service.deliver_event(&event).await {
                    tracing::warn!(event_id = %event.event_id, %error, "event trigger delivery failed");
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}
