//! The middleware stack: request id and access log, panic and timeout as problems, metrics, CORS,
//! compression, security headers, body limit, and problem+json fallbacks for 404 and 405.

use auterity_config::ServerConfig;
use auterity_types::ErrorCode;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;

use crate::error::{ApiError, REQUEST_ID};

const REQUEST_ID_HEADER: &str = "x-request-id";

pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>, config: &ServerConfig) -> Router<S> {
    let timeout = Duration::from_secs(config.request_timeout_secs);
    let security_headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    let mut router = router
        .fallback(|| async { ApiError::not_found("no route matches this path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "this path does not accept this method")
        })
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(move |request: Request, next: Next| deadline(request, next, timeout)))
        .layer(middleware::from_fn(auterity_telemetry::track_http_metrics));
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)));
    }
    router
        .layer(cors(config))
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            ApiError::new(ErrorCode::Internal, "handler panicked").into_response()
        }))
        .layer(middleware::from_fn(request_context))
}

fn cors(config: &ServerConfig) -> CorsLayer {
    let origins = &config.server_origins();
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static(REQUEST_ID_HEADER)])
        .expose_headers([HeaderName::from_static(REQUEST_ID_HEADER)])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(AllowOrigin::any())
    } else {
        let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

trait Origins {
    fn server_origins(&self) -> Vec<String>;
}

impl Origins for ServerConfig {
    fn server_origins(&self) -> Vec<String> {
        self.cors_allowed_origins.clone()
    }
}

/// A whole-request deadline answered as a 408 problem.
async fn deadline(request: Request, next: Next, timeout: Duration) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::Timeout, format!("request took longer than {} s", timeout.as_secs()))
            .into_response(),
    }
}

/// Takes the caller's `x-request-id` (if sane) or makes one, scopes it for logs and problems, and
/// writes one structured access-log line per request.
async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("http_request", request_id = %request_id, %method, %path);
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(request_id.clone(), next.run(request).instrument(span.clone())).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "request completed"));
    response
}
