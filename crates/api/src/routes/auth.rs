//! Handlers of `/api/auth/*`: each extracts, calls one `AuthService` method, and maps the result.

use auterity_auth::dto::{
    ApiKeyView, ChangePasswordRequest, CreateApiKeyRequest, CreateOrgRequest, CreateTeamRequest, CreateUserRequest,
    CreatedApiKey, GrantRequest, LoginRequest, LogoutRequest, MeResponse, Page, RecoveryCodes, RefreshRequest,
    RegisterRequest, TeamMemberRequest, TokenResponse, TotpCodeRequest, TotpEnrollment, UpdateUserRequest, UserView,
};
use auterity_types::records::{AuditEntry, Organization, Team};
use auterity_types::{ApiKeyId, OrgId, System, TeamId, UserId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Client, PageParams};
use crate::guard::{Authenticated, OrgAdmin, Public, SuperAdmin};
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiError>;

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "Invalid credentials or MFA code required"),
              (status = 429, description = "Throttled after repeated failures")))]
pub async fn login_handler(
    _: Public,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    Ok(Json(state.auth.login(body, &ctx).await?))
}

#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "Unknown, expired or reused refresh token")))]
pub async fn refresh_handler(
    _: Public,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    Ok(Json(state.auth.refresh(body, &ctx).await?))
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body(content = Option<LogoutRequest>),
    responses((status = 204, description = "Signed out")))]
pub async fn logout_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    Client(ctx): Client,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    state.auth.logout(&caller, request, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/auth/me", tag = "auth", responses((status = 200, body = MeResponse)))]
pub async fn me_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
) -> ApiResult<Json<MeResponse>> {
    Ok(Json(state.auth.me(&caller).await?))
}

#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = UserView), (status = 403, description = "Self sign-up is disabled")))]
pub async fn register_handler(
    _: Public,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    Ok((StatusCode::CREATED, Json(state.auth.register(body, state.default_org, &ctx).await?)))
}

#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    responses((status = 204, description = "Password changed; every session ended")))]
pub async fn change_password_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    state.auth.change_password(&caller, body, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/auth/mfa/totp/enroll", tag = "mfa", responses((status = 200, body = TotpEnrollment)))]
pub async fn totp_enroll_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
) -> ApiResult<Json<TotpEnrollment>> {
    Ok(Json(state.auth.totp_enroll(&caller).await?))
}

#[utoipa::path(post, path = "/api/auth/mfa/totp/verify", tag = "mfa", request_body = TotpCodeRequest,
    responses((status = 200, body = RecoveryCodes)))]
pub async fn totp_verify_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<TotpCodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    Ok(Json(state.auth.totp_confirm(&caller, body, &ctx).await?))
}

#[utoipa::path(post, path = "/api/auth/mfa/totp/disable", tag = "mfa", request_body = TotpCodeRequest,
    responses((status = 204, description = "MFA disabled")))]
pub async fn totp_disable_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<TotpCodeRequest>,
) -> ApiResult<StatusCode> {
    state.auth.totp_disable(&caller, body, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/auth/mfa/recovery-codes", tag = "mfa", request_body = TotpCodeRequest,
    responses((status = 200, body = RecoveryCodes)))]
pub async fn recovery_codes_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<TotpCodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    Ok(Json(state.auth.regenerate_recovery_codes(&caller, body, &ctx).await?))
}

#[utoipa::path(post, path = "/api/auth/api-keys", tag = "api-keys", request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKey, description = "The secret `key` is shown only in this response")))]
pub async fn create_api_key_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    Ok((StatusCode::CREATED, Json(state.auth.create_api_key(&caller, body, &ctx).await?)))
}

#[utoipa::path(get, path = "/api/auth/api-keys", tag = "api-keys", params(PageParams),
    responses((status = 200, body = Page<ApiKeyView>)))]
pub async fn list_api_keys_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    Ok(Json(state.auth.list_api_keys(&caller, page.to_request()).await?))
}

#[utoipa::path(delete, path = "/api/auth/api-keys/{id}", tag = "api-keys",
    params(("id" = Uuid, Path, description = "API key id")), responses((status = 204, description = "Revoked")))]
pub async fn delete_api_key_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.auth.delete_api_key(&caller, ApiKeyId(id), &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/auth/users", tag = "users", params(PageParams),
    responses((status = 200, body = Page<UserView>)))]
pub async fn list_users_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<UserView>>> {
    Ok(Json(state.auth.list_users(&caller, page.to_request()).await?))
}

#[utoipa::path(post, path = "/api/auth/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = UserView), (status = 409, description = "Email or username taken")))]
pub async fn create_user_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    Ok((StatusCode::CREATED, Json(state.auth.admin_create_user(&caller, body, &ctx).await?)))
}

#[utoipa::path(get, path = "/api/auth/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id")), responses((status = 200, body = UserView)))]
pub async fn get_user_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(state.auth.get_user(&caller, UserId(id)).await?))
}

#[utoipa::path(patch, path = "/api/auth/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = Uuid, Path, description = "User id")), responses((status = 200, body = UserView)))]
pub async fn update_user_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(state.auth.update_user(&caller, UserId(id), body, &ctx).await?))
}

#[derive(Deserialize)]
pub struct AccessPath {
    id: Uuid,
    system: String,
}

fn parse_system(name: &str) -> Result<System, ApiError> {
    name.parse()
        .map_err(|_| ApiError::not_found(format!("unknown system {name:?}; use autmatrix, relaycore or neuroweaver")))
}

#[utoipa::path(put, path = "/api/auth/users/{id}/access/{system}", tag = "users", request_body = GrantRequest,
    params(("id" = Uuid, Path, description = "User id"), ("system" = System, Path, description = "System")),
    responses((status = 200, body = UserView)))]
pub async fn grant_access_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiPath(path): ApiPath<AccessPath>,
    ApiJson(body): ApiJson<GrantRequest>,
) -> ApiResult<Json<UserView>> {
    let system = parse_system(&path.system)?;
    Ok(Json(state.auth.grant_access(&caller, UserId(path.id), system, body, &ctx).await?))
}

#[utoipa::path(delete, path = "/api/auth/users/{id}/access/{system}", tag = "users",
    params(("id" = Uuid, Path, description = "User id"), ("system" = System, Path, description = "System")),
    responses((status = 200, body = UserView)))]
pub async fn revoke_access_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiPath(path): ApiPath<AccessPath>,
) -> ApiResult<Json<UserView>> {
    let system = parse_system(&path.system)?;
    Ok(Json(state.auth.revoke_access(&caller, UserId(path.id), system, &ctx).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditParams {
    pub limit: Option<u32>,
    /// Continue with entries older than this id.
    pub after: Option<Uuid>,
    /// Only this action, e.g. `login_failed`.
    pub action: Option<String>,
}

#[utoipa::path(get, path = "/api/auth/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Page<AuditEntry>)))]
pub async fn audit_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let page = PageParams { limit: params.limit, after: params.after }.to_request();
    Ok(Json(state.auth.list_audit(&caller, params.action.as_deref(), page).await?))
}

#[utoipa::path(get, path = "/api/auth/orgs", tag = "organizations", params(PageParams),
    responses((status = 200, body = Page<Organization>)))]
pub async fn list_orgs_handler(
    _: SuperAdmin,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<Organization>>> {
    Ok(Json(state.auth.list_orgs(page.to_request()).await?))
}

#[utoipa::path(post, path = "/api/auth/orgs", tag = "organizations", request_body = CreateOrgRequest,
    responses((status = 201, body = Organization)))]
pub async fn create_org_handler(
    SuperAdmin(caller): SuperAdmin,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<CreateOrgRequest>,
) -> ApiResult<(StatusCode, Json<Organization>)> {
    Ok((StatusCode::CREATED, Json(state.auth.create_org(&caller, body, &ctx).await?)))
}

#[utoipa::path(get, path = "/api/auth/orgs/{id}", tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")), responses((status = 200, body = Organization)))]
pub async fn get_org_handler(
    _: SuperAdmin,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(state.auth.get_org(OrgId(id)).await?))
}

#[utoipa::path(get, path = "/api/auth/teams", tag = "teams", params(PageParams), responses((status = 200, body = Page<Team>)))]
pub async fn list_teams_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<Team>>> {
    Ok(Json(state.auth.list_teams(&caller, page.to_request()).await?))
}

#[utoipa::path(post, path = "/api/auth/teams", tag = "teams", request_body = CreateTeamRequest,
    responses((status = 201, body = Team)))]
pub async fn create_team_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<CreateTeamRequest>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    Ok((StatusCode::CREATED, Json(state.auth.create_team(&caller, body, &ctx).await?)))
}

#[utoipa::path(get, path = "/api/auth/teams/{id}/members", tag = "teams",
    params(("id" = Uuid, Path, description = "Team id")), responses((status = 200, body = Vec<String>)))]
pub async fn list_team_members_handler(
    Authenticated(caller): Authenticated,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<UserId>>> {
    Ok(Json(state.auth.list_team_members(&caller, TeamId(id)).await?))
}

#[utoipa::path(post, path = "/api/auth/teams/{id}/members", tag = "teams", request_body = TeamMemberRequest,
    params(("id" = Uuid, Path, description = "Team id")), responses((status = 200, body = Vec<String>)))]
pub async fn add_team_member_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TeamMemberRequest>,
) -> ApiResult<Json<Vec<UserId>>> {
    Ok(Json(state.auth.add_team_member(&caller, TeamId(id), UserId(body.user_id), &ctx).await?))
}

#[derive(Deserialize)]
pub struct TeamMemberPath {
    id: Uuid,
    user_id: Uuid,
}

#[utoipa::path(delete, path = "/api/auth/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = Uuid, Path, description = "Team id"), ("user_id" = Uuid, Path, description = "User id")),
    responses((status = 204, description = "Removed")))]
pub async fn remove_team_member_handler(
    OrgAdmin(caller): OrgAdmin,
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiPath(path): ApiPath<TeamMemberPath>,
) -> ApiResult<StatusCode> {
    state.auth.remove_team_member(&caller, TeamId(path.id), UserId(path.user_id), &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
