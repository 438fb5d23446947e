//! Records of the identity and tenancy area as the domain sees them. The domain layer creates
//! ids and timestamps; stores persist exactly what they are given.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ApiKeyId, Level, OrgId, System, SystemEvent, TeamId, UserId};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Organization {
    #[schema(value_type = String, format = Uuid)]
    pub id: OrgId,
    pub name: String,
    /// URL-safe unique handle.
    pub slug: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Team {
    #[schema(value_type = String, format = Uuid)]
    pub id: TeamId,
    #[schema(value_type = String, format = Uuid)]
    pub org_id: OrgId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A user account. `password_hash`, `mfa_secret` and `recovery_code_hashes` never leave the server.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: String,
    pub username: String,
    pub password_hash: String,
    pub is_active: bool,
    /// Role names from `access::roles`.
    pub roles: Vec<String>,
    /// TOTP secret, encrypted with the master key (base64 of nonce ‖ ciphertext); set once enrolment starts.
    pub mfa_secret: Option<String>,
    /// True once the user has proven a TOTP code after enrolment.
    pub mfa_enabled: bool,
    /// SHA-256 hex digests of unused recovery codes.
    pub recovery_code_hashes: Vec<String>,
    /// Access tokens issued before this instant are rejected (logout everywhere, disable, password change).
    pub tokens_valid_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A row of `user_system_access`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessGrant {
    pub system: System,
    pub level: Level,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub granted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub granted_by: Option<UserId>,
}

/// An opaque refresh token; only its SHA-256 digest is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RefreshToken {
    pub id: Uuid,
    pub user_id: UserId,
    pub org_id: OrgId,
    /// All tokens rotated from one login share a family; reuse of a spent one revokes the family.
    pub family_id: Uuid,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API key. The secret is shown once at creation; only its SHA-256 digest is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub name: String,
    /// Public lookup prefix, unique, shown in listings.
    pub prefix: String,
    pub secret_hash: String,
    pub systems: Vec<AccessGrant>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One audit-log entry: who did what to which target, from where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub org_id: Option<OrgId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub actor_id: Option<UserId>,
    /// e.g. `login`, `login_failed`, `api_key.created`, `access.granted`.
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// What a mutation announces, written in the same transaction as the mutation itself.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    pub events: Vec<SystemEvent>,
    pub audit: Vec<AuditEntry>,
}

impl Effects {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn event(mut self, event: SystemEvent) -> Self {
        self.events.push(event);
        self
    }

    pub fn audit(mut self, entry: AuditEntry) -> Self {
        self.audit.push(entry);
        self
    }
}

/// An event waiting in, or relayed from, the transactional outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRecord {
    /// Monotonic sequence number assigned by the store.
    pub seq: i64,
    pub event: SystemEvent,
    pub published_at: Option<DateTime<Utc>>,
}

/// Keyset pagination: up to `limit` rows whose id is greater than `after`, in id order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 500;

    pub fn first(limit: u32) -> Self {
        Self { limit: limit.clamp(1, Self::MAX_LIMIT), after: None }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(50)
    }
}

/// A configured LLM provider (`ai_providers`). The API key is stored encrypted and never returned.
#[derive(Clone, Debug, PartialEq)]
pub struct AiProvider {
    pub id: Uuid,
    pub org_id: crate::OrgId,
    pub name: String,
    /// `openai`, `azure_openai`, `anthropic`, `openai_compatible` or `local`.
    pub provider_type: String,
    pub endpoint_url: Option<String>,
    pub api_key_encrypted: Option<String>,
    pub is_active: bool,
    pub cost_per_token: Option<f64>,
    pub rate_limit_rpm: Option<i32>,
    pub created_at: DateTime<Utc>,
}
