//! Workflow variables: plain, non-secret JSON values an organization's workflows read as
//! `env.NAME` (the URL of its CRM, its time zone, its quiet hours), so that one definition serves
//! every organization. Unlike secrets they are listed with their values and never redacted.
//! A step reads the values current when it runs: a change applies to steps that run after it.

use auterity_store::{OrgScope, Store, StoreError};
use auterity_types::error::FieldError;
use auterity_types::outbound_records::VariableRecord;
use auterity_types::records::{Effects, PageRequest};
use auterity_types::{ErrorCode, OrgId, UserId};
use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::secrets::{audit, check_name};

/// Largest variable value, as compact JSON.
pub const MAX_VARIABLE_BYTES: usize = 64 * 1024;
/// Variables an organization may have: every step that reads `env` holds them all.
pub const MAX_VARIABLES: u64 = 256;

#[derive(Debug, thiserror::Error)]
pub enum VariableError {
    #[error("request is invalid")]
    Validation(Vec<FieldError>),
    #[error("variable not found")]
    NotFound,
    #[error("the organization already has {MAX_VARIABLES} variables, the most it may have")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VariableError {
    pub fn code(&self) -> ErrorCode {
        match self {
            VariableError::Validation(_) => ErrorCode::Validation,
            VariableError::NotFound => ErrorCode::NotFound,
            VariableError::TooMany => ErrorCode::Validation,
            VariableError::Store(error) => error.code(),
        }
    }
}

/// A value is any JSON of at most [`MAX_VARIABLE_BYTES`].
fn check_value(value: &Value) -> Result<(), FieldError> {
    let size = serde_json::to_vec(value).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > MAX_VARIABLE_BYTES {
        return Err(FieldError::new("/value", format!("must be at most {MAX_VARIABLE_BYTES} bytes of JSON")));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct VariableService {
    store: Store,
}

impl VariableService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates or replaces the variable `name`; answers it and whether it was created.
    pub async fn put(
        &self,
        org: OrgId,
        actor: Option<UserId>,
        name: &str,
        value: Value,
    ) -> Result<(VariableRecord, bool), VariableError> {
        let errors: Vec<FieldError> =
            [check_name(name), check_value(&value)].into_iter().filter_map(Result::err).collect();
        if !errors.is_empty() {
            return Err(VariableError::Validation(errors));
        }
        let scope = OrgScope(org);
        let exists = self.store.outbound.get_variable(scope, name).await?.is_some();
        if !exists && self.store.outbound.count_variables(scope).await? >= MAX_VARIABLES {
            return Err(VariableError::TooMany);
        }
        let now = Utc::now();
        let variable = VariableRecord {
            id: Uuid::now_v7(),
            org_id: org,
            name: name.to_owned(),
            value,
            created_by: actor,
            created_at: now,
            updated_at: now,
        };
        let action = if exists { "variable.updated" } else { "variable.created" };
        let effects = Effects::none().audit(audit(org, actor, action, name));
        let stored = self.store.outbound.put_variable(scope, &variable, &effects).await?;
        let created = stored.id == variable.id;
        Ok((stored, created))
    }

    pub async fn get(&self, org: OrgId, name: &str) -> Result<VariableRecord, VariableError> {
        self.store.outbound.get_variable(OrgScope(org), name).await?.ok_or(VariableError::NotFound)
    }

    pub async fn list(&self, org: OrgId, page: PageRequest) -> Result<Vec<VariableRecord>, VariableError> {
        Ok(self.store.outbound.list_variables(OrgScope(org), page).await?)
    }

    pub async fn delete(&self, org: OrgId, actor: Option<UserId>, name: &str) -> Result<(), VariableError> {
        let effects = Effects::none().audit(audit(org, actor, "variable.deleted", name));
        if self.store.outbound.delete_variable(OrgScope(org), name, &effects).await? {
            Ok(())
        } else {
            Err(VariableError::NotFound)
        }
    }
}

/// What `env` holds for a step of `org` now: every variable by name.
pub async fn env(store: &Store, org: OrgId) -> Result<Map<String, Value>, StoreError> {
    Ok(store.outbound.all_variables(OrgScope(org)).await?.into_iter().map(|v| (v.name, v.value)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_bounded_as_compact_json() {
        assert!(check_value(&json!({"start": 21, "end": 8})).is_ok());
        assert!(check_value(&Value::String("x".repeat(MAX_VARIABLE_BYTES - 2))).is_ok());
        let error = check_value(&Value::String("x".repeat(MAX_VARIABLE_BYTES))).unwrap_err();
        assert_eq!(error.pointer, "/value");
    }
}
