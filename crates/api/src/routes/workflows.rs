//! Handlers of `/api/workflows/*` (AutoMatrix): definitions with versions, validation, the JSON
//! Schema, runs. Each calls one `WorkflowService` method.

use auterity_auth::dto::Page;
use auterity_types::workflow_records::{
    AttemptRecord, RunFilter, RunRecord, StepRecord, WorkflowRecord, WorkflowVersion,
};
use auterity_workflows::engine::service::{SavedWorkflow, StartRun, WorkflowError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams};
use crate::guard::{Admin, Authorized, Autmatrix, Public, Read, Write};
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiError>;

impl From<WorkflowError> for ApiError {
    fn from(error: WorkflowError) -> Self {
        match error {
            WorkflowError::Invalid(errors) => ApiError::validation(errors),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkflowView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub version: i32,
    pub is_active: bool,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub created_by: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Signing secrets of webhook triggers this save created, `[{trigger_id, secret}]`: shown only
    /// in this response (rotate a secret to get a new one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub webhook_secrets: Vec<Value>,
}

impl From<SavedWorkflow> for WorkflowView {
    fn from(saved: SavedWorkflow) -> Self {
        let mut view = WorkflowView::from(saved.workflow);
        view.webhook_secrets =
            saved.new_webhook_secrets.iter().filter_map(|secret| serde_json::to_value(secret).ok()).collect();
        view
    }
}

impl From<WorkflowRecord> for WorkflowView {
    fn from(w: WorkflowRecord) -> Self {
        Self {
            id: w.id,
            name: w.name,
            description: w.description,
            version: w.latest_version,
            is_active: w.is_active,
            definition: w.definition,
            created_by: w.user_id.0,
            created_at: w.created_at,
            updated_at: w.updated_at,
            webhook_secrets: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    pub version: i32,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub created_by: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<WorkflowVersion> for VersionView {
    fn from(v: WorkflowVersion) -> Self {
        Self { version: v.version, definition: v.definition, created_by: v.created_by.0, created_at: v.created_at }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub key: String,
    pub step_id: String,
    pub status: String,
    pub attempt: i32,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub ready_at: Option<chrono::DateTime<chrono::Utc>>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<StepRecord> for StepView {
    fn from(s: StepRecord) -> Self {
        Self {
            key: s.step_key,
            step_id: s.step_id,
            status: s.status,
            attempt: s.attempt,
            output: s.output,
            error: s.error,
            ready_at: s.ready_at,
            started_at: s.started_at,
            completed_at: s.completed_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub version: i32,
    /// `pending`, `running`, `waiting`, `paused` (see `/pause`), `completed`, `failed` or `cancelled`.
    pub status: String,
    #[schema(value_type = Object)]
    pub inputs: Value,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub trigger: String,
    pub correlation_id: Uuid,
    /// The run whose `subworkflow` step started this one, and that step's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_step_key: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The run this one re-runs (`POST /api/workflows/runs/{run_id}/rerun`).
    pub rerun_of: Option<Uuid>,
    /// Present on the run detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub attempts: Option<Vec<AttemptRecord>>,
}

impl From<RunRecord> for RunView {
    fn from(r: RunRecord) -> Self {
        Self {
            id: r.id,
            workflow_id: r.workflow_id,
            version: r.version,
            status: r.status,
            inputs: r.inputs,
            output: r.output,
            error: r.error,
            trigger: r.trigger,
            correlation_id: r.correlation_id,
            parent_run_id: r.parent_run_id,
            parent_step_key: r.parent_step_key,
            created_at: r.created_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            rerun_of: r.rerun_of,
            steps: None,
            attempts: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidationReport {
    pub valid: bool,
    pub errors: Vec<auterity_types::error::FieldError>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRunRequest {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: Value,
    /// Higher runs first.
    #[serde(default)]
    pub priority: i32,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RunListParams {
    pub limit: Option<u32>,
    pub after: Option<Uuid>,
    pub workflow_id: Option<Uuid>,
    pub status: Option<String>,
    /// `manual`, `webhook`, `cron`, `event`, `subworkflow`, `rerun`.
    pub trigger: Option<String>,
    /// Runs created at or after this instant (RFC 3339).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Runs created before this instant (RFC 3339).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Re-runs of this run.
    pub rerun_of: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/workflows/schema", tag = "workflows", responses((status = 200, description = "JSON Schema (draft 2020-12) of a workflow definition")))]
pub async fn schema_handler(_: Public) -> Json<Value> {
    Json(auterity_workflows::workflow_schema().clone())
}

#[utoipa::path(post, path = "/api/workflows/validate", tag = "workflows", request_body(content = Object),
    responses((status = 200, body = ValidationReport)))]
pub async fn validate_handler(
    _caller: Authorized<Autmatrix, Read>,
    ApiJson(body): ApiJson<Value>,
) -> Json<ValidationReport> {
    match auterity_workflows::engine::service::check_definition(&body) {
        Ok(_) => Json(ValidationReport { valid: true, errors: vec![] }),
        Err(errors) => Json(ValidationReport { valid: false, errors }),
    }
}

#[utoipa::path(post, path = "/api/workflows", tag = "workflows", request_body(content = Object, description = "A workflow definition"),
    responses((status = 201, body = WorkflowView), (status = 422, description = "Invalid definition: every problem with a JSON pointer")))]
pub async fn create_workflow_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<WorkflowView>)> {
    let p = &caller.principal;
    Ok((StatusCode::CREATED, Json(state.workflows.create(p.org_id, p.user_id, body).await?.into())))
}

#[utoipa::path(get, path = "/api/workflows", tag = "workflows", params(PageParams), responses((status = 200, body = Page<WorkflowView>)))]
pub async fn list_workflows_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<WorkflowView>>> {
    let page = page.to_request();
    let items: Vec<WorkflowView> =
        state.workflows.list(caller.principal.org_id, page).await?.into_iter().map(Into::into).collect();
    Ok(Json(Page::new(items, page.limit, |w| w.id)))
}

#[utoipa::path(get, path = "/api/workflows/{id}", tag = "workflows", params(("id" = Uuid, Path, description = "Workflow id")),
    responses((status = 200, body = WorkflowView)))]
pub async fn get_workflow_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WorkflowView>> {
    Ok(Json(state.workflows.get(caller.principal.org_id, id).await?.into()))
}

#[utoipa::path(put, path = "/api/workflows/{id}", tag = "workflows", request_body(content = Object),
    params(("id" = Uuid, Path, description = "Workflow id")), responses((status = 200, body = WorkflowView)))]
pub async fn update_workflow_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<WorkflowView>> {
    let p = &caller.principal;
    Ok(Json(state.workflows.update(p.org_id, p.user_id, id, body).await?.into()))
}

#[utoipa::path(delete, path = "/api/workflows/{id}", tag = "workflows", params(("id" = Uuid, Path, description = "Workflow id")),
    responses((status = 204, description = "Deactivated; runs and versions are kept")))]
pub async fn delete_workflow_handler(
    caller: Authorized<Autmatrix, Admin>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.workflows.delete(caller.principal.org_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/workflows/{id}/versions", tag = "workflows", params(("id" = Uuid, Path, description = "Workflow id")),
    responses((status = 200, body = Vec<VersionView>)))]
pub async fn versions_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<VersionView>>> {
    Ok(Json(state.workflows.versions(caller.principal.org_id, id).await?.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/workflows/{id}/runs", tag = "runs", request_body = StartRunRequest,
    params(("id" = Uuid, Path, description = "Workflow id")), responses((status = 201, body = RunView)))]
pub async fn start_run_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StartRunRequest>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let p = &caller.principal;
    let request = StartRun { inputs: body.inputs, trigger: "manual".into(), priority: body.priority };
    Ok((StatusCode::CREATED, Json(state.workflows.start(p.org_id, p.user_id, id, request).await?.into())))
}

#[utoipa::path(get, path = "/api/workflows/runs", tag = "runs", params(RunListParams), responses((status = 200, body = Page<RunView>)))]
pub async fn list_runs_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<RunListParams>,
) -> ApiResult<Json<Page<RunView>>> {
    let page = PageParams { limit: params.limit, after: params.after }.to_request();
    let filter = RunFilter {
        workflow_id: params.workflow_id,
        status: params.status,
        trigger: params.trigger,
        since: params.since,
        until: params.until,
        rerun_of: params.rerun_of,
    };
    let items: Vec<RunView> =
        state.workflows.runs(caller.principal.org_id, &filter, page).await?.into_iter().map(Into::into).collect();
    Ok(Json(Page::new(items, page.limit, |r| r.id)))
}

#[utoipa::path(get, path = "/api/workflows/runs/{run_id}", tag = "runs", params(("run_id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView)))]
pub async fn get_run_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    let (run, steps, attempts) = state.workflows.run(caller.principal.org_id, run_id).await?;
    let mut view = RunView::from(run);
    view.steps = Some(steps.into_iter().map(Into::into).collect());
    view.attempts = Some(attempts);
    Ok(Json(view))
}

#[utoipa::path(post, path = "/api/workflows/runs/{run_id}/cancel", tag = "runs", params(("run_id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 409, description = "The run already ended")))]
pub async fn cancel_run_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    let p = &caller.principal;
    Ok(Json(state.workflows.cancel(p.org_id, p.user_id, run_id).await?.into()))
}
