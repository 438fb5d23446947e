//! The process-wide Prometheus recorder. Installed once (tests start many servers in one
//! process); every server renders the same registry.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Seconds buckets for request and step latencies: sub-millisecond to tens of seconds.
const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Installs the recorder on first call; `None` if another recorder was installed first.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!("http_requests_total", "HTTP requests by method, matched route and status");
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method, matched route and status"
    );
    metrics::describe_counter!("auth_failures_total", "Failed authentications by reason");
    metrics::describe_counter!(
        "auterity_workflow_runs_total",
        "Workflow runs by status reached (started, completed, failed, cancelled, retried)"
    );
    metrics::describe_histogram!(
        "auterity_workflow_step_duration_seconds",
        metrics::Unit::Seconds,
        "Workflow step attempt duration by step kind"
    );
    metrics::describe_counter!("auterity_workflow_retries_total", "Workflow step attempts scheduled for retry");
    metrics::describe_gauge!("auterity_workflow_queue_depth", "Ready workflow steps due now (all workers)");
    metrics::describe_gauge!(
        "auterity_workflow_oldest_ready_age_seconds",
        metrics::Unit::Seconds,
        "How long the oldest due ready workflow step has waited"
    );
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render_metrics() -> String {
    metrics_handle().map(|handle| handle.render()).unwrap_or_default()
}
