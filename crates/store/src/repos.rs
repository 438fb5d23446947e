//! The repository traits: the whole contract between the domain and the database.

use async_trait::async_trait;
use auterity_types::records::{
    AccessGrant, AiProvider, ApiKey, AuditEntry, Effects, Organization, OutboxRecord, PageRequest, RefreshToken, Team,
    User,
};
use auterity_types::{ApiKeyId, OrgId, System, SystemEvent, TeamId, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::StoreError;

/// The caller's organization. Every tenant-owned read and write takes one and filters by it in SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrgScope(pub OrgId);

impl OrgScope {
    pub fn org_id(self) -> OrgId {
        self.0
    }
}

/// Organizations (platform level, managed by `superadmin`) and teams (tenant-owned).
#[async_trait]
pub trait OrgRepo: Send + Sync {
    /// Fails with `Conflict` when the slug is taken.
    async fn create_org(&self, org: &Organization, effects: &Effects) -> Result<(), StoreError>;
    async fn get_org(&self, id: OrgId) -> Result<Option<Organization>, StoreError>;
    async fn get_org_by_slug(&self, slug: &str) -> Result<Option<Organization>, StoreError>;
    async fn list_orgs(&self, page: PageRequest) -> Result<Vec<Organization>, StoreError>;
    async fn count_orgs(&self) -> Result<i64, StoreError>;

    /// `team.org_id` must equal the scope's org, else `NotFound`-equivalent refusal (`Conflict` is wrong here):
    /// `StoreError::NotFound`, also when the organization does not exist. `Conflict` when the
    /// organization already has a team of that name.
    async fn create_team(&self, scope: OrgScope, team: &Team, effects: &Effects) -> Result<(), StoreError>;
    async fn list_teams(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<Team>, StoreError>;
    /// Returns false when the team or the user is not in the scope's organization. Adding an
    /// existing member again returns true and changes nothing.
    async fn add_team_member(&self, scope: OrgScope, team: TeamId, user: UserId) -> Result<bool, StoreError>;
    async fn remove_team_member(&self, scope: OrgScope, team: TeamId, user: UserId) -> Result<bool, StoreError>;
    async fn list_team_members(&self, scope: OrgScope, team: TeamId) -> Result<Vec<UserId>, StoreError>;
    async fn list_user_teams(&self, scope: OrgScope, user: UserId) -> Result<Vec<TeamId>, StoreError>;
}

/// Users and their per-system access (`users`, `user_system_access`).
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Inserts the user and its grants in one transaction with `effects`. `Conflict` when the email
    /// or username is taken (both are unique platform-wide, compared case-insensitively).
    /// `NotFound` when `user.org_id` is not the scope's organization or does not exist.
    async fn create_user(
        &self,
        scope: OrgScope,
        user: &User,
        grants: &[AccessGrant],
        effects: &Effects,
    ) -> Result<(), StoreError>;
    async fn get_user(&self, scope: OrgScope, id: UserId) -> Result<Option<User>, StoreError>;
    /// Login lookup by email or username (case-insensitive), across organizations: a login does not
    /// know its organization yet.
    async fn find_user_by_login(&self, login: &str) -> Result<Option<User>, StoreError>;
    async fn list_users(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<User>, StoreError>;
    async fn count_users(&self) -> Result<i64, StoreError>;
    /// Writes every mutable column of `user` (email, username, password_hash, is_active, roles, mfa_*,
    /// recovery codes, tokens_valid_after, updated_at). Returns false when not in scope (including
    /// when `user.org_id` differs from the scope's). `Conflict` when the new email or username is
    /// taken. When it returns false or fails, `effects` are not written.
    async fn update_user(&self, scope: OrgScope, user: &User, effects: &Effects) -> Result<bool, StoreError>;
    /// Upserts the grant for `(user, grant.system)`. Returns false when the user is not in scope
    /// (and then writes no `effects`).
    async fn set_access(
        &self,
        scope: OrgScope,
        user: UserId,
        grant: &AccessGrant,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// Returns false when there was no such grant in scope (and then writes no `effects`).
    async fn revoke_access(
        &self,
        scope: OrgScope,
        user: UserId,
        system: System,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    async fn list_access(&self, scope: OrgScope, user: UserId) -> Result<Vec<AccessGrant>, StoreError>;
}

/// Refresh tokens and revoked access tokens.
#[async_trait]
pub trait TokenRepo: Send + Sync {
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError>;
    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError>;
    /// Atomically marks `old_id` used (only if it is neither used nor revoked) and inserts `new`.
    /// Returns false, inserting nothing, when `old_id` was already used or revoked.
    async fn rotate_refresh_token(
        &self,
        old_id: Uuid,
        used_at: DateTime<Utc>,
        new: &RefreshToken,
    ) -> Result<bool, StoreError>;
    /// Revokes every token of the family; returns how many were newly revoked.
    async fn revoke_family(&self, family_id: Uuid, at: DateTime<Utc>) -> Result<u64, StoreError>;
    async fn revoke_user_refresh_tokens(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Records a revoked access-token id until its expiry. Idempotent.
    async fn revoke_jti(&self, jti: Uuid, user: UserId, expires_at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Revoked jtis that have not expired at `now`, for loading the in-memory revocation set.
    async fn list_revoked_jtis(&self, now: DateTime<Utc>) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError>;
    async fn is_jti_revoked(&self, jti: Uuid) -> Result<bool, StoreError>;
    /// Users whose tokens issued before a cut-off are void, for cut-offs after `since` (loading the
    /// in-memory revocation cache at start).
    async fn list_user_cutoffs(&self, since: DateTime<Utc>) -> Result<Vec<(UserId, DateTime<Utc>)>, StoreError>;
    /// Deletes refresh tokens and revoked jtis that expired before `now`.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// API keys.
#[async_trait]
pub trait ApiKeyRepo: Send + Sync {
    /// `NotFound` when `key.org_id` is not the scope's organization or `key.user_id` is not one of
    /// its users; `Conflict` when the prefix is taken.
    async fn create_api_key(&self, scope: OrgScope, key: &ApiKey, effects: &Effects) -> Result<(), StoreError>;
    /// Authentication lookup by the public prefix, across organizations.
    async fn find_api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Keys in scope, optionally only one user's, newest last.
    async fn list_api_keys(
        &self,
        scope: OrgScope,
        user: Option<UserId>,
        page: PageRequest,
    ) -> Result<Vec<ApiKey>, StoreError>;
    async fn get_api_key(&self, scope: OrgScope, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError>;
    /// Returns false when there was no such key in scope (and then writes no `effects`).
    async fn delete_api_key(&self, scope: OrgScope, id: ApiKeyId, effects: &Effects) -> Result<bool, StoreError>;
    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// The audit log of security-relevant actions.
#[async_trait]
pub trait AuditRepo: Send + Sync {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Entries of the scope's organization, newest first; `action` filters by exact action name.
    /// Because the order is descending, `page.after` means "older than": pass the id of the last
    /// entry of the previous page. Platform-level entries (`org_id: None`) are in no list.
    async fn list_audit(
        &self,
        scope: OrgScope,
        action: Option<&str>,
        page: PageRequest,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

/// The transactional outbox: events are appended in the transaction of the change they announce
/// (via `Effects`) or on their own, and relayed to the bus in `seq` order.
#[async_trait]
pub trait OutboxRepo: Send + Sync {
    async fn append_events(&self, events: &[SystemEvent]) -> Result<(), StoreError>;
    /// Unpublished events with `seq > after_seq`, oldest first.
    ///
    /// On PostgreSQL, `seq` is taken from a sequence when a row is inserted, not when it commits,
    /// so a transaction may commit a lower `seq` after a higher one was already fetched. A relay
    /// that must not miss events polls from `after_seq = 0` (it only sees unpublished rows) or
    /// re-scans a window behind its cursor.
    async fn fetch_unpublished(&self, after_seq: i64, limit: u32) -> Result<Vec<OutboxRecord>, StoreError>;
    /// Keeps the first `published_at` of an event marked twice.
    async fn mark_published(&self, seqs: &[i64], at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Published and unpublished events with the given correlation id, in `seq` order (replay).
    async fn events_by_correlation(&self, correlation_id: Uuid, limit: u32) -> Result<Vec<OutboxRecord>, StoreError>;
}

/// LLM providers configured per organization (`ai_providers`).
#[async_trait]
pub trait ProviderRepo: Send + Sync {
    /// `NotFound` when `provider.org_id` is not the scope's organization.
    async fn create_provider(
        &self,
        scope: OrgScope,
        provider: &AiProvider,
        effects: &Effects,
    ) -> Result<(), StoreError>;
    async fn get_provider(&self, scope: OrgScope, id: Uuid) -> Result<Option<AiProvider>, StoreError>;
    async fn list_providers(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<AiProvider>, StoreError>;
    /// Returns false when there was no such provider in scope.
    async fn delete_provider(&self, scope: OrgScope, id: Uuid, effects: &Effects) -> Result<bool, StoreError>;
}
