//! Handlers of `/api/workflows/variables`: the organization's workflow variables, read by
//! expressions as `env.NAME`. Values are plain (not secret) and shown to readers; writing needs
//! `autmatrix` admin, since a variable can redirect where every workflow sends its data.

use auterity_auth::dto::Page;
use auterity_types::outbound_records::VariableRecord;
use auterity_workflows::variables::VariableError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams};
use crate::guard::{Admin, Authorized, Autmatrix, Read};
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiError>;

impl From<VariableError> for ApiError {
    fn from(error: VariableError) -> Self {
        match error {
            VariableError::Validation(errors) => ApiError::validation(errors),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutVariableRequest {
    /// Any JSON value of at most 64 KiB (compact).
    pub value: serde_json::Value,
}

/// A workflow variable.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VariableView {
    pub id: Uuid,
    /// Read in expressions as `env.<name>` or `env['<name>']`.
    pub name: String,
    pub value: serde_json::Value,
    pub created_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<VariableRecord> for VariableView {
    fn from(v: VariableRecord) -> Self {
        Self {
            id: v.id,
            name: v.name,
            value: v.value,
            created_by: v.created_by.map(|u| u.0),
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

#[utoipa::path(get, path = "/api/workflows/variables", tag = "workflows", params(PageParams),
    responses((status = 200, body = Page<VariableView>)))]
pub async fn list_variables_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<VariableView>>> {
    let page = page.to_request();
    let items: Vec<VariableView> =
        state.variables.list(caller.principal.org_id, page).await?.into_iter().map(VariableView::from).collect();
    Ok(Json(Page::new(items, page.limit, |v| v.id)))
}

#[utoipa::path(get, path = "/api/workflows/variables/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Variable name")), responses((status = 200, body = VariableView)))]
pub async fn get_variable_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<VariableView>> {
    Ok(Json(state.variables.get(caller.principal.org_id, &name).await?.into()))
}

#[utoipa::path(put, path = "/api/workflows/variables/{name}", tag = "workflows", request_body = PutVariableRequest,
    params(("name" = String, Path, description = "Variable name")),
    responses((status = 201, body = VariableView, description = "Created"),
        (status = 200, body = VariableView, description = "Replaced")))]
pub async fn put_variable_handler(
    caller: Authorized<Autmatrix, Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PutVariableRequest>,
) -> ApiResult<(StatusCode, Json<VariableView>)> {
    let principal = &caller.principal;
    let (variable, created) = state.variables.put(principal.org_id, principal.actor(), &name, body.value).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(variable.into())))
}

#[utoipa::path(delete, path = "/api/workflows/variables/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Variable name")), responses((status = 204, description = "Deleted")))]
pub async fn delete_variable_handler(
    caller: Authorized<Autmatrix, Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.variables.delete(caller.principal.org_id, caller.principal.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
