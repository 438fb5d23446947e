//! The trigger worker, run by the `worker` role: fires due cron ticks (sleeping until the next
//! one, at most [`MAX_SCHEDULER_SLEEP`]) and purges expired receipts. Several workers may run
//! against one PostgreSQL database: a tick is claimed by a conditional update, so each starts one
//! run. (Events reach the event triggers from the outbox relay: `TriggerService` is one of its
//! durable consumers.)

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
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
