//! Probes and the Prometheus exposition. `ready` checks every configured dependency and reports
//! each; it answers 503 when any is down, so a load balancer stops sending traffic.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::guard::Public;
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DependencyStatus {
    pub status: &'static str,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: BTreeMap<String, DependencyStatus>,
}

#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health_handler(_: Public) -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = Health)))]
pub async fn live_handler(_: Public) -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

async fn timed<F, E>(check: F) -> DependencyStatus
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(Ok(())) => DependencyStatus { status: "up", latency_ms, error: None },
        Ok(Err(error)) => DependencyStatus { status: "down", latency_ms, error: Some(error.to_string()) },
        Err(_) => DependencyStatus { status: "down", latency_ms, error: Some("timed out".to_owned()) },
    }
}

#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready_handler(_: Public, State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let mut checks = BTreeMap::new();
    let database = timed(state.store.ping()).await;
    checks.insert(format!("database ({})", state.store.backend()), database);
    if let Some(redis) = &state.redis {
        let mut connection = redis.clone();
        let status =
            timed(async move { redis::cmd("PING").query_async::<String>(&mut connection).await.map(|_| ()) }).await;
        checks.insert("redis".to_owned(), status);
    }
    if let Some(nats) = &state.nats {
        let client = nats.clone();
        let status = timed(async move { client.flush().await }).await;
        checks.insert("nats".to_owned(), status);
    }
    let all_up = checks.values().all(|check| check.status == "up");
    let status = if all_up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { status: if all_up { "ready" } else { "unavailable" }, checks }))
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain")))]
pub async fn metrics_handler(_: Public) -> Response {
    let mut response = auterity_telemetry::render_metrics().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
