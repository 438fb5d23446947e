//! The storage contract of outbound safety: an organization's encrypted workflow secrets and its
//! egress choice. The store only ever sees ciphertext; encryption is the domain's job.

use async_trait::async_trait;
use auterity_types::outbound_records::{OrgEgressSetting, SecretRecord};
use auterity_types::records::{Effects, PageRequest};
use chrono::{DateTime, Utc};

use crate::{OrgScope, StoreError};

#[async_trait]
pub trait OutboundRepo: Send + Sync {
    /// `Conflict` when the organization already has a secret of that name; `NotFound` when
    /// `secret.org_id` is not the scope's organization.
    async fn create_secret(&self, scope: OrgScope, secret: &SecretRecord, effects: &Effects) -> Result<(), StoreError>;
    /// Replaces the ciphertext of an existing secret; false when there is no such secret in scope.
    async fn update_secret(
        &self,
        scope: OrgScope,
        name: &str,
        value_encrypted: &str,
        at: DateTime<Utc>,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    async fn get_secret(&self, scope: OrgScope, name: &str) -> Result<Option<SecretRecord>, StoreError>;
    /// Secrets in id order (keyset pagination).
    async fn list_secrets(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<SecretRecord>, StoreError>;
    /// The named secrets of the organization that exist (unknown names are skipped).
    async fn secrets_by_name(&self, scope: OrgScope, names: &[String]) -> Result<Vec<SecretRecord>, StoreError>;
    /// False when there was no such secret in scope.
    async fn delete_secret(&self, scope: OrgScope, name: &str, effects: &Effects) -> Result<bool, StoreError>;

    /// The organization's egress choice (defaults when it never chose).
    async fn get_egress_setting(&self, scope: OrgScope) -> Result<OrgEgressSetting, StoreError>;
    /// Sets (or with `None` clears) the organization's private-range choice.
    async fn set_egress_setting(
        &self,
        scope: OrgScope,
        deny_private: Option<bool>,
        at: DateTime<Utc>,
        effects: &Effects,
    ) -> Result<(), StoreError>;
}
