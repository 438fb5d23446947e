//! Handlers that signal a waiting run: approve or reject an `approval` step, send an event to a
//! run's `wait_event` steps (`autmatrix` write). Each calls one `WorkflowService` method.

use auterity_workflows::engine::signals::Decider;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::workflows::RunView;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, parse_json};
use crate::guard::{Authorized, Autmatrix, Write};
use crate::state::AppState;

/// Optional body of approve/reject.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub comment: Option<String>,
}

/// An event sent to a run: a `SystemEvent` type and its payload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEventRequest {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SendEventResponse {
    /// Keys of the `wait_event` steps the event was delivered to (possibly none).
    pub delivered_to: Vec<String>,
}

fn comment_of(body: &Bytes) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    Ok(parse_json::<DecisionRequest>(body)?.comment)
}

async fn decide(
    caller: &Authorized<Autmatrix, Write>,
    state: &AppState,
    run_id: Uuid,
    step: &str,
    approve: bool,
    body: &Bytes,
) -> Result<Json<RunView>, ApiError> {
    let comment = comment_of(body)?;
    let p = &caller.principal;
    let decider = Decider { user: p.user_id, roles: &p.roles };
    Ok(Json(state.workflows.decide(p.org_id, decider, run_id, step, approve, comment).await?.into()))
}

#[utoipa::path(post, path = "/api/workflows/runs/{run_id}/steps/{step_id}/approve", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id"), ("step_id" = String, Path, description = "Step id or key")),
    request_body(content = Option<DecisionRequest>, description = "Optional comment"),
    responses((status = 200, body = RunView), (status = 409, description = "The step is not waiting for a decision")))]
pub async fn approve_step_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath((run_id, step)): ApiPath<(Uuid, String)>,
    body: Bytes,
) -> Result<Json<RunView>, ApiError> {
    decide(&caller, &state, run_id, &step, true, &body).await
}

#[utoipa::path(post, path = "/api/workflows/runs/{run_id}/steps/{step_id}/reject", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id"), ("step_id" = String, Path, description = "Step id or key")),
    request_body(content = Option<DecisionRequest>, description = "Optional comment"),
    responses((status = 200, body = RunView), (status = 409, description = "The step is not waiting for a decision")))]
pub async fn reject_step_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath((run_id, step)): ApiPath<(Uuid, String)>,
    body: Bytes,
) -> Result<Json<RunView>, ApiError> {
    decide(&caller, &state, run_id, &step, false, &body).await
}

#[utoipa::path(post, path = "/api/workflows/runs/{run_id}/events", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id")), request_body = SendEventRequest,
    responses((status = 200, body = SendEventResponse), (status = 409, description = "The run already ended")))]
pub async fn send_run_event_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SendEventRequest>,
) -> Result<Json<SendEventResponse>, ApiError> {
    if body.event_type.trim().is_empty() || body.event_type.len() > 200 {
        return Err(ApiError::bad_request("type must be 1–200 characters"));
    }
    let delivered_to = state.workflows.send_event(caller.principal.org_id, run_id, &body.event_type, body.data).await?;
    Ok(Json(SendEventResponse { delivered_to }))
}
