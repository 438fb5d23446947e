//! Queue gauges for Prometheus, sampled from the database (the queue is shared by every worker
//! process): ready steps of running runs that are due now, and how long the oldest has waited.

use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use super::Engine;

/// How often the gauges are refreshed.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl Engine {
    pub(super) async fn gauge_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = Utc::now();
            match self.store.workflows.queue_depth(now).await {
                Ok((depth, oldest)) => {
                    let age = oldest.map(|ready_at| (now - ready_at).as_seconds_f64().max(0.0)).unwrap_or(0.0);
                    metrics::gauge!("auterity_workflow_queue_depth").set(depth as f64);
                    metrics::gauge!("auterity_workflow_oldest_ready_age_seconds").set(age);
                }
                Err(error) => tracing::debug!(%error, "sampling the workflow queue failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SAMPLE_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
