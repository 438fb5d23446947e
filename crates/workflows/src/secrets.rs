//! The per-organization secret store of workflows: values encrypted at rest (AES-256-GCM with
//! aws-lc-rs) under a key derived from the master key for this purpose only, sealed with the
//! organization id and the secret's name as associated data, so a ciphertext copied to another
//! organization or name does not decrypt. Values leave this module only as `SecretString`, for
//! the engine to evaluate `secrets.NAME`; no endpoint ever returns one. The organization's
//! egress choice is kept here too: both are what an organization's outbound calls may use.

use auterity_auth::crypto::MasterKey;
use auterity_store::{OrgScope, Store, StoreError};
use auterity_types::error::FieldError;
use auterity_types::outbound_records::{OrgEgressSetting, SecretRecord};
use auterity_types::records::{AuditEntry, Effects, PageRequest};
use auterity_types::{ErrorCode, OrgId, UserId};
use chrono::Utc;
use secrecy::SecretString;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// HKDF purpose of the secret-store key; a new version means re-encrypting every secret.
const KEY_PURPOSE: &str = "auterity-workflow-secrets-v1";
/// Largest secret value.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
const MAX_NAME_CHARS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("request is invalid")]
    Validation(Vec<FieldError>),
    #[error("secret not found")]
    NotFound,
    #[error("a secret named {0:?} already exists")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("secret {0:?} cannot be decrypted: {1}")]
    Crypto(String, String),
}

impl SecretError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SecretError::Validation(_) => ErrorCode::Validation,
            SecretError::NotFound => ErrorCode::NotFound,
            SecretError::Conflict(_) => ErrorCode::AlreadyExists,
            SecretError::Store(error) => error.code(),
            SecretError::Crypto(..) => ErrorCode::Internal,
        }
    }
}

/// Names of secrets and variables, as expressions can spell them: `secrets.api_token`,
/// `env['crm-url']`.
pub fn check_name(name: &str) -> Result<(), FieldError> {
    let mut chars = name.chars();
    let valid_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_start
        || name.chars().count() > MAX_NAME_CHARS
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(FieldError::new(
            "/name",
            "must be 1–128 characters of letters, digits, _ and -, starting with a letter or _",
        ));
    }
    Ok(())
}

fn check_secret_value(value: &str) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > MAX_SECRET_BYTES {
        return Err(FieldError::new("/value", format!("must be 1–{MAX_SECRET_BYTES} bytes")));
    }
    Ok(())
}

pub struct SecretService {
    store: Store,
    key: MasterKey,
}

impl std::fmt::Debug for SecretService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretService").finish_non_exhaustive()
    }
}

fn associated_data(org: OrgId, name: &str) -> Vec<u8> {
    format!("workflow_secret:{}:{name}", org.0).into_bytes()
}

impl SecretService {
    pub fn new(store: Store, master_key: &MasterKey) -> Self {
        Self { store, key: master_key.derive_key(KEY_PURPOSE) }
    }

    fn seal(&self, org: OrgId, name: &str, value: &str) -> Result<String, SecretError> {
        self.key
            .encrypt(value.as_bytes(), &associated_data(org, name))
            .map_err(|e| SecretError::Crypto(name.to_owned(), e.to_string()))
    }

    pub async fn create(
        &self,
        org: OrgId,
        actor: Option<UserId>,
        name: &str,
        value: &str,
    ) -> Result<SecretRecord, SecretError> {
        let errors: Vec<FieldError> =
            [check_name(name), check_secret_value(value)].into_iter().filter_map(Result::err).collect();
        if !errors.is_empty() {
            return Err(SecretError::Validation(errors));
        }
        let now = Utc::now();
        let secret = SecretRecord {
            id: Uuid::now_v7(),
            org_id: org,
            name: name.to_owned(),
            value_encrypted: self.seal(org, name, value)?,
            created_by: actor,
            created_at: now,
            updated_at: now,
        };
        let effects = Effects::none().audit(audit(org, actor, "secret.created", name));
        match self.store.outbound.create_secret(OrgScope(org), &secret, &effects).await {
            Ok(()) => Ok(secret),
            Err(StoreError::Conflict(_)) => Err(SecretError::Conflict(name.to_owned())),
            Err(other) => Err(other.into()),
        }
    }

    /// Replaces the value of an existing secret; runs started afterwards see the new value.
    pub async fn update(
        &self,
        org: OrgId,
        actor: Option<UserId>,
        name: &str,
        value: &str,
    ) -> Result<SecretRecord, SecretError> {
        check_secret_value(value).map_err(|e| SecretError::Validation(vec![e]))?;
        let sealed = self.seal(org, name, value)?;
        let effects = Effects::none().audit(audit(org, actor, "secret.updated", name));
        if !self.store.outbound.update_secret(OrgScope(org), name, &sealed, Utc::now(), &effects).await? {
            return Err(SecretError::NotFound);
        }
        self.get(org, name).await
    }

    pub async fn get(&self, org: OrgId, name: &str) -> Result<SecretRecord, SecretError> {
        self.store.outbound.get_secret(OrgScope(org), name).await?.ok_or(SecretError::NotFound)
    }

    pub async fn list(&self, org: OrgId, page: PageRequest) -> Result<Vec<SecretRecord>, SecretError> {
        Ok(self.store.outbound.list_secrets(OrgScope(org), page).await?)
    }

    pub async fn delete(&self, org: OrgId, actor: Option<UserId>, name: &str) -> Result<(), SecretError> {
        let effects = Effects::none().audit(audit(org, actor, "secret.deleted", name));
        if self.store.outbound.delete_secret(OrgScope(org), name, &effects).await? {
            Ok(())
        } else {
            Err(SecretError::NotFound)
        }
    }

    /// The organization's egress choice (see `EgressConfig::deny_private`).
    pub async fn egress(&self, org: OrgId) -> Result<OrgEgressSetting, SecretError> {
        Ok(self.store.outbound.get_egress_setting(OrgScope(org)).await?)
    }

    /// Sets (or with `None` clears) whether the organization denies private ranges.
    pub async fn set_egress(
        &self,
        org: OrgId,
        actor: Option<UserId>,
        deny_private: Option<bool>,
    ) -> Result<(), SecretError> {
        let mut entry = audit(org, actor, "egress.updated", "deny_private");
        entry.details = serde_json::json!({"deny_private": deny_private});
        let effects = Effects::none().audit(entry);
        Ok(self.store.outbound.set_egress_setting(OrgScope(org), deny_private, Utc::now(), &effects).await?)
    }

    /// Decrypts the named secrets of the organization for one evaluation; names it does not have
    /// are left out (the expression then fails with "secret 'x' is not defined").
    pub async fn load(
        &self,
        org: OrgId,
        names: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, SecretString>, SecretError> {
        let wanted: Vec<String> = names.iter().cloned().collect();
        let records = self.store.outbound.secrets_by_name(OrgScope(org), &wanted).await?;
        let mut values = BTreeMap::new();
        for record in records {
            let plain = self
                .key
                .decrypt(&record.value_encrypted, &associated_data(org, &record.name))
                .map_err(|e| SecretError::Crypto(record.name.clone(), e.to_string()))?;
            let text =
                String::from_utf8(plain).map_err(|_| SecretError::Crypto(record.name.clone(), "not utf-8".into()))?;
            values.insert(record.name, SecretString::from(text));
        }
        Ok(values)
    }
}

/// The audit entry of a change to a named setting of an organization (a secret, a variable).
pub(crate) fn audit(org: OrgId, actor: Option<UserId>, action: &str, name: &str) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        org_id: Some(org),
        actor_id: actor,
        action: action.to_owned(),
        target: Some(name.to_owned()),
        ip: None,
        details: serde_json::json!({"name": name}),
        created_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_expressions_can_spell() {
        for good in ["api_token", "API-KEY-2", "_x", "a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "a b", "a.b", "é", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_ciphertext_is_bound_to_its_organization_and_name() {
        let key = MasterKey::generate().derive_key(KEY_PURPOSE);
        let (org_a, org_b) = (OrgId(Uuid::now_v7()), OrgId(Uuid::now_v7()));
        let sealed = key.encrypt(b"s3cret", &associated_data(org_a, "token")).unwrap();
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.decrypt(&sealed, &associated_data(org_a, "token")).unwrap(), b"s3cret");
        assert!(key.decrypt(&sealed, &associated_data(org_b, "token")).is_err());
        assert!(key.decrypt(&sealed, &associated_data(org_a, "other")).is_err());
    }
}
