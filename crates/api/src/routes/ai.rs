//! Handlers of `/api/ai/*` (RelayCore).

use auterity_auth::dto::Page;
use auterity_relay::providers::{CreateProviderRequest, ProviderError, ProviderView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams};
use crate::guard::{Admin, Authorized, Read, Relaycore, Write};
use crate::state::AppState;

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Validation(errors) => ApiError::validation(errors),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

#[utoipa::path(get, path = "/api/ai/providers", tag = "ai", params(PageParams),
    responses((status = 200, body = Page<ProviderView>)))]
pub async fn list_providers_handler(
    caller: Authorized<Relaycore, Read>,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<ProviderView>>, ApiError> {
    let page = page.to_request();
    let items = state.providers.list(caller.principal.org_id, page).await?;
    Ok(Json(Page::new(items, page.limit, |p| p.id)))
}

#[utoipa::path(post, path = "/api/ai/providers", tag = "ai", request_body = CreateProviderRequest,
    responses((status = 201, body = ProviderView)))]
pub async fn create_provider_handler(
    caller: Authorized<Relaycore, Write>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateProviderRequest>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    let principal = &caller.principal;
    Ok((StatusCode::CREATED, Json(state.providers.create(principal.org_id, principal.actor(), body).await?)))
}

#[utoipa::path(delete, path = "/api/ai/providers/{id}", tag = "ai",
    params(("id" = Uuid, Path, description = "Provider id")), responses((status = 204, description = "Deleted")))]
pub async fn delete_provider_handler(
    caller: Authorized<Relaycore, Admin>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.providers.delete(caller.principal.org_id, caller.principal.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
