//! Handlers of run control and per-step history under `/api/workflows/runs/{run_id}`: pause,
//! resume, retry from the failed step(s), re-run with new inputs, and a step's attempts. Each
//! calls one `WorkflowService` method; an invalid transition is a 409 that changes nothing.

use auterity_types::workflow_records::AttemptRecord;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::workflows::RunView;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, PageParams, parse_json};
use crate::guard::{Authorized, Autmatrix, Read, Write};
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    /// New inputs; the original run's when absent.
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Value>,
}

/// One execution attempt of a step.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub number: i32,
    /// `completed`, `failed`, `retrying`, `sleeping`, `expanded`, …
    pub outcome: String,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: i64,
    /// The worker (lease owner) that ran it.
    pub worker: Option<String>,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> Self {
        Self {
            number: a.attempt,
            outcome: a.outcome,
            error: a.error,
            duration_ms: (a.finished_at - a.started_at).num_milliseconds(),
            started_at: a.started_at,
            ended_at: a.finished_at,
            worker: a.worker,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptPage {
    pub items: Vec<AttemptView>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_cursor: Option<i32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AttemptListParams {
    /// 1–500, default 50.
    pub limit: Option<u32>,
    /// Continue after this attempt number.
    pub after: Option<i32>,
}

#[utoipa::path(post, path = "/api/workflows/runs/{run_id}/pause", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 409, description = "The run is not running")))]
pub async fn pause_run_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    let p = &caller.principal;
    Ok(Json(state.workflows.pause(p.org_id, p.user_id, run_id).await?.into()))
}

#[utoipa::path(post, path = "/api/workflows/runs/{run_id}/resume", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 409, description = "The run is not paused")))]
pub async fn resume_run_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    let p = &caller.principal;
    Ok(Json(state.workflows.resume(p.org_id, p.user_id, run_id).await?.into()))
}

#[utoipa::path(post, path = "/api/workflows/runs/{run_id}/retry", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView, description = "Resumed from its failed step(s)"),
        (status = 409, description = "The run has not failed")))]
pub async fn retry_run_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    let p = &caller.principal;
    Ok(Json(state.workflows.retry(p.org_id, p.user_id, run_id).await?.into()))
}

#[utoipa::path(post, path = "/api/workflows/runs/{run_id}/rerun", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id")), request_body(content = RerunRequest, description = "Optional"),
    responses((status = 201, body = RunView, description = "A new run of the same pinned version")))]
pub async fn rerun_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let request: RerunRequest =
        if body.iter().all(u8::is_ascii_whitespace) { RerunRequest::default() } else { parse_json(&body)? };
    let p = &caller.principal;
    let run = state.workflows.rerun(p.org_id, p.user_id, run_id, request.inputs).await?;
    Ok((StatusCode::CREATED, Json(run.into())))
}

#[utoipa::path(get, path = "/api/workflows/runs/{run_id}/steps/{step_key}/attempts", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id"),
        ("step_key" = String, Path, description = "Step key (percent-encode `/` inside parallel branches)"),
        AttemptListParams),
    responses((status = 200, body = AttemptPage)))]
pub async fn list_step_attempts_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath((run_id, step_key)): ApiPath<(Uuid, String)>,
    ApiQuery(params): ApiQuery<AttemptListParams>,
) -> ApiResult<Json<AttemptPage>> {
    let page = PageParams { limit: params.limit, after: None }.to_request();
    let attempts =
        state.workflows.step_attempts(caller.principal.org_id, run_id, &step_key, params.after, page).await?;
    let next_cursor = (attempts.len() as u32 >= page.limit).then(|| attempts.last().map(|a| a.attempt)).flatten();
    Ok(Json(AttemptPage { items: attempts.into_iter().map(Into::into).collect(), next_cursor }))
}
