//! Handlers of `/api/secrets` (workflow secrets) and `/api/orgs/current/egress` (the
//! organization's egress choice). Secret values go in and never come out: every response carries
//! names and timestamps only. Writing needs `autmatrix` admin; listing names needs `autmatrix`
//! read, since anyone who can read workflow definitions sees the names they reference.

use auterity_auth::dto::Page;
use auterity_types::outbound_records::SecretRecord;
use auterity_workflows::secrets::SecretError;
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

impl From<SecretError> for ApiError {
    fn from(error: SecretError) -> Self {
        match error {
            SecretError::Validation(errors) => ApiError::validation(errors),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSecretRequest {
    /// Letters, digits, `_` and `-`; read in expressions as `secrets.<name>` or `secrets['<name>']`.
    pub name: String,
    /// Stored encrypted; never returned.
    pub value: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSecretRequest {
    /// The new value; stored encrypted, never returned.
    pub value: String,
}

/// A secret as the API shows it: never its value.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    pub id: Uuid,
    pub name: String,
    pub created_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<SecretRecord> for SecretView {
    fn from(s: SecretRecord) -> Self {
        Self {
            id: s.id,
            name: s.name,
            created_by: s.created_by.map(|u| u.0),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[utoipa::path(get, path = "/api/secrets", tag = "secrets", params(PageParams),
    responses((status = 200, body = Page<SecretView>)))]
pub async fn list_secrets_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<SecretView>>> {
    let page = page.to_request();
    let items: Vec<SecretView> =
        state.secrets.list(caller.principal.org_id, page).await?.into_iter().map(SecretView::from).collect();
    Ok(Json(Page::new(items, page.limit, |s| s.id)))
}

#[utoipa::path(post, path = "/api/secrets", tag = "secrets", request_body = CreateSecretRequest,
    responses((status = 201, body = SecretView), (status = 409, description = "The name is taken")))]
pub async fn create_secret_handler(
    caller: Authorized<Autmatrix, Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateSecretRequest>,
) -> ApiResult<(StatusCode, Json<SecretView>)> {
    let principal = &caller.principal;
    let created = state.secrets.create(principal.org_id, principal.actor(), &body.name, &body.value).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/api/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name")), responses((status = 200, body = SecretView)))]
pub async fn get_secret_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<SecretView>> {
    Ok(Json(state.secrets.get(caller.principal.org_id, &name).await?.into()))
}

#[utoipa::path(put, path = "/api/secrets/{name}", tag = "secrets", request_body = UpdateSecretRequest,
    params(("name" = String, Path, description = "Secret name")), responses((status = 200, body = SecretView)))]
pub async fn update_secret_handler(
    caller: Authorized<Autmatrix, Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateSecretRequest>,
) -> ApiResult<Json<SecretView>> {
    let principal = &caller.principal;
    Ok(Json(state.secrets.update(principal.org_id, principal.actor(), &name, &body.value).await?.into()))
}

#[utoipa::path(delete, path = "/api/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name")), responses((status = 204, description = "Deleted")))]
pub async fn delete_secret_handler(
    caller: Authorized<Autmatrix, Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.secrets.delete(caller.principal.org_id, caller.principal.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's egress choice for outbound calls of its workflows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EgressView {
    /// The organization's own choice; `null` follows the server's `egress.deny_private`.
    pub deny_private: Option<bool>,
    /// What is in force now.
    pub effective_deny_private: bool,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEgressRequest {
    /// Deny private, loopback and unique-local ranges (`null`: follow the server's default).
    /// Cloud metadata addresses are denied regardless.
    pub deny_private: Option<bool>,
}

#[utoipa::path(get, path = "/api/orgs/current/egress", tag = "secrets", responses((status = 200, body = EgressView)))]
pub async fn get_egress_handler(
    caller: Authorized<Autmatrix, Read>,
    State(state): State<AppState>,
) -> ApiResult<Json<EgressView>> {
    Ok(Json(egress_view(&state, caller.principal.org_id).await?))
}

#[utoipa::path(put, path = "/api/orgs/current/egress", tag = "secrets", request_body = UpdateEgressRequest,
    responses((status = 200, body = EgressView)))]
pub async fn update_egress_handler(
    caller: Authorized<Autmatrix, Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UpdateEgressRequest>,
) -> ApiResult<Json<EgressView>> {
    let principal = &caller.principal;
    state.secrets.set_egress(principal.org_id, principal.actor(), body.deny_private).await?;
    Ok(Json(egress_view(&state, principal.org_id).await?))
}

async fn egress_view(state: &AppState, org: auterity_types::OrgId) -> ApiResult<EgressView> {
    let setting = state.secrets.egress(org).await?;
    Ok(EgressView {
        deny_private: setting.deny_private,
        effective_deny_private: setting.deny_private.unwrap_or(state.config.egress.deny_private),
        updated_at: setting.updated_at,
    })
}
