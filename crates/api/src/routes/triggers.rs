//! Handlers of workflow triggers: the trigger list with its state, webhook secret rotation, and
//! the public webhook endpoint `POST /api/hooks/{hook_id}`, authenticated by its HMAC signature
//! (`X-Auterity-Signature`) rather than a token. Each calls one `TriggerService` method.

use auterity_workflows::triggers::signature::SIGNATURE_HEADER;
use auterity_workflows::triggers::{TriggerError, TriggerState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::guard::{Admin, Authorized, Autmatrix, Public, Read};
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiError>;

impl From<TriggerError> for ApiError {
    fn from(error: TriggerError) -> Self {
        match error {
            TriggerError::Workflow(inner) => inner.into(),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

/// The workflow's triggers. Bounded by the definition (at most 20), so one page holds them all.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<TriggerState>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedSecret {
    pub trigger_id: String,
    /// The new signing secret, shown only now. The previous one no longer verifies.
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookAccepted {
    /// The run id.
    pub id: Uuid,
    pub status: String,
}

#[utoipa::path(get, path = "/api/workflows/{id}/triggers", tag = "workflows", params(("id" = Uuid, Path, description = "Workflow id")),
    responses((status = 200, body = TriggerList)))]
pub async fn list_triggers_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TriggerList>> {
    let items = state.triggers.list(caller.principal.org_id, id).await?;
    Ok(Json(TriggerList { items, next_cursor: None }))
}

#[utoipa::path(post, path = "/api/workflows/{id}/triggers/{trigger_id}/rotate-secret", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id"), ("trigger_id" = String, Path, description = "Webhook trigger id")),
    responses((status = 200, body = RotatedSecret), (status = 404, description = "No such webhook trigger")))]
pub async fn rotate_secret_handler(
    caller: Authorized<Autmatrix, Admin>,
    State(state): State<AppState>,
    ApiPath((id, trigger_id)): ApiPath<(Uuid, String)>,
) -> ApiResult<Json<RotatedSecret>> {
    let secret = state.triggers.rotate_secret(caller.principal.org_id, id, &trigger_id).await?;
    Ok(Json(RotatedSecret { trigger_id, secret }))
}

#[utoipa::path(post, path = "/api/hooks/{hook_id}", tag = "workflows", request_body(content = Object, description = "The run's inputs"),
    params(("hook_id" = Uuid, Path, description = "Webhook id (from the trigger list)"),
        ("X-Auterity-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"{t}.{body}\">")),
    responses((status = 202, body = WebhookAccepted), (status = 401, description = "Missing, wrong or stale signature"),
        (status = 409, description = "Replayed signature"), (status = 422, description = "Body does not match the workflow's inputs")))]
pub async fn webhook_handler(
    _: Public,
    State(state): State<AppState>,
    ApiPath(hook_id): ApiPath<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<WebhookAccepted>)> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let run = state.triggers.receive_webhook(hook_id, signature, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(WebhookAccepted { id: run.id, status: run.status })))
}
