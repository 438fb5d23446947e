//! The OpenAPI document and a self-contained viewer (no CDN: it works offline and under a strict CSP).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::guard::Public;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/openapi.json", tag = "docs", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_handler(_: Public, State(_state): State<AppState>) -> Json<serde_json::Value> {
    Json(crate::routes::openapi_document())
}

#[utoipa::path(get, path = "/api/docs", tag = "docs", responses((status = 200, description = "HTML viewer", content_type = "text/html")))]
pub async fn docs_viewer_handler(_: Public) -> Response {
    let mut response = include_str!("docs_viewer.html").into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}
