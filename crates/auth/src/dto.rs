//! Wire shapes of the auth API (`/api/auth/*`). JSON fields are snake_case, times RFC 3339 UTC.

use auterity_types::records::{AccessGrant, ApiKey, Organization, Team, User};
use auterity_types::{Level, System};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: String,
    /// A current TOTP code, or one recovery code, when MFA is enabled.
    pub totp: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// Set when the user's role requires MFA and it is not enrolled: only enrolment is allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_enrollment_required: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Also revoke this refresh token's whole family.
    pub refresh_token: Option<String>,
    /// Revoke every session of the caller (all refresh tokens, all access tokens issued so far).
    #[serde(default)]
    pub all_sessions: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SystemLevel {
    pub system: System,
    pub level: Level,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub systems: Vec<SystemLevel>,
    /// `admin` or `member` (default); `superadmin` only by a superadmin.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Superadmins may create users in another organization.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub org_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub is_active: Option<bool>,
    pub roles: Option<Vec<String>>,
    pub email: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub level: Level,
    #[serde(default)]
    pub resources: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub org_id: Uuid,
    pub email: String,
    pub username: String,
    pub is_active: bool,
    pub roles: Vec<String>,
    pub mfa_enabled: bool,
    pub systems: Vec<AccessGrant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserView {
    pub fn new(user: &User, systems: Vec<AccessGrant>) -> Self {
        Self {
            id: user.id.0,
            org_id: user.org_id.0,
            email: user.email.clone(),
            username: user.username.clone(),
            is_active: user.is_active,
            roles: user.roles.clone(),
            mfa_enabled: user.mfa_enabled,
            systems,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    #[serde(flatten)]
    pub user: UserView,
    pub permissions: Vec<String>,
    #[schema(value_type = Vec<String>, format = Uuid)]
    pub teams: Vec<Uuid>,
    /// `access_token` or `api_key`.
    pub authenticated_via: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    pub systems: Vec<SystemLevel>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub systems: Vec<SystemLevel>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id.0,
            user_id: key.user_id.0,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            systems: key.systems.iter().map(|g| SystemLevel { system: g.system, level: g.level }).collect(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// Answered once, at creation: the only time the secret is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    pub key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrollment {
    /// Base32 secret for manual entry.
    pub secret: String,
    pub otpauth_uri: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCodeRequest {
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    /// Each usable once. Shown only now.
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamMemberRequest {
    #[schema(value_type = String, format = Uuid)]
    pub user_id: Uuid,
}

/// A page of results; pass `next_cursor` as `after` to get the next one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub next_cursor: Option<Uuid>,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Uuid) -> Self {
        let next_cursor = if items.len() as u32 >= limit { items.last().map(&cursor_of) } else { None };
        Self { items, next_cursor }
    }
}

pub type OrgView = Organization;
pub type TeamView = Team;
