//! Records of what an organization's workflows are configured with: encrypted secrets, plain
//! variables and the egress choice of their outbound calls.

use chrono::{DateTime, Utc};

use crate::{OrgId, UserId};

/// A workflow secret as stored: the value only as AES-256-GCM ciphertext.
#[derive(Clone, PartialEq)]
pub struct SecretRecord {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    /// Referenced in expressions as `secrets.<name>`.
    pub name: String,
    /// base64(nonce ‖ ciphertext ‖ tag), sealed with the organization id and name as associated data.
    pub value_encrypted: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("value_encrypted", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// An organization's own egress choice; absent fields follow the configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgEgressSetting {
    pub deny_private: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A workflow variable: a plain (non-secret) JSON value an organization's workflows read as
/// `env.<name>`, e.g. the URL of its CRM.
#[derive(Clone, Debug, PartialEq)]
pub struct VariableRecord {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    pub name: String,
    pub value: serde_json::Value,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
