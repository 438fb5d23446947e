//! Observability plumbing: JSON logs, the Prometheus recorder, the HTTP metrics layer, and the
//! optional OTLP trace exporter.

mod http_metrics;
mod logging;
mod prometheus;

pub use http_metrics::track_http_metrics;
pub use logging::{TelemetryGuard, init_logging};
pub use prometheus::{metrics_handle, render_metrics};
