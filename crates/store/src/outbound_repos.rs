//! The storage contract of what an organization's workflows are configured with: encrypted
//! secrets, plain variables (`env`) and the egress choice of outbound calls. The store only ever
//! sees ciphertext of secrets; encryption is the domain's job.

use async_trait::async_trait;
use auterity_types::outbound_records::{OrgEgressSetting, SecretRecord, VariableRecord};
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

    /// Creates or replaces the variable of that name (keeping its id, creator and creation time
    /// when it existed); answers the stored record. `NotFound` when `variable.org_id` is not the
    /// scope's organization.
    async fn put_variable(
        &self,
        scope: OrgScope,
        variable: &VariableRecord,
        effects: &Effects,
    ) -> Result<VariableRecord, StoreError>;
    async fn get_variable(&self, scope: OrgScope, name: &str) -> Result<Option<VariableRecord>, StoreError>;
    /// Variables in id order (keyset pagination).
    async fn list_variables(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<VariableRecord>, StoreError>;
    /// Every variable of the organization: what `env` holds when a step runs.
    async fn all_variables(&self, scope: OrgScope) -> Result<Vec<VariableRecord>, StoreError>;
    /// How many variables the organization has.
    async fn count_variables(&self, scope: OrgScope) -> Result<u64, StoreError>;
    /// False when there was no such variable in scope.
    async fn delete_variable(&self, scope: OrgScope, name: &str, effects: &Effects) -> Result<bool, StoreError>;
}
