//! API keys: created by a user for at most the access that user holds, shown once, stored hashed.

use auterity_store::OrgScope;
use auterity_types::error::FieldError;
use auterity_types::records::{AccessGrant, ApiKey, Effects, PageRequest};
use auterity_types::{ApiKeyId, UserId};
use chrono::Utc;
use serde_json::json;

use crate::dto::{ApiKeyView, CreateApiKeyRequest, CreatedApiKey, Page};
use crate::principal::{Credential, Principal};
use crate::service::{AuthService, ClientContext};
use crate::{AuthError, secrets};

impl AuthService {
    pub async fn create_api_key(
        &self,
        caller: &Principal,
        request: CreateApiKeyRequest,
        ctx: &ClientContext,
    ) -> Result<CreatedApiKey, AuthError> {
        if matches!(caller.credential, Credential::ApiKey { .. }) {
            return Err(AuthError::Forbidden("an API key cannot create API keys; sign in".into()));
        }
        let name = request.name.trim();
        let mut errors = Vec::new();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new("/name", "must be 1–100 characters"));
        }
        if request.systems.is_empty() {
            errors.push(FieldError::new("/systems", "name at least one system and level"));
        }
        let now = Utc::now();
        if request.expires_at.is_some_and(|t| t <= now) {
            errors.push(FieldError::new("/expires_at", "must be in the future"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, wanted) in request.systems.iter().enumerate() {
            if !seen.insert(wanted.system) {
                errors.push(FieldError::new(format!("/systems/{i}"), "system listed twice"));
            } else if !caller.has_access(wanted.system, wanted.level) {
                errors.push(FieldError::new(
                    format!("/systems/{i}"),
                    format!("you do not hold {}:{} yourself", wanted.system, wanted.level),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        let generated = secrets::generate_api_key();
        let key = ApiKey {
            id: ApiKeyId::new(),
            org_id: caller.org_id,
            user_id: caller.user_id,
            name: name.to_owned(),
            prefix: generated.prefix.clone(),
            secret_hash: generated.secret_hash.clone(),
            systems: request
                .systems
                .iter()
                .map(|s| AccessGrant {
                    system: s.system,
                    level: s.level,
                    resources: vec![],
                    granted_at: Some(now),
                    granted_by: caller.actor(),
                })
                .collect(),
            created_at: now,
            expires_at: request.expires_at,
            last_used_at: None,
        };
        let effects = Effects::none().audit(self.audit(
            Some(caller.org_id),
            caller.actor(),
            "api_key.created",
            Some(key.id.to_string()),
            ctx,
            json!({"name": key.name, "prefix": key.prefix, "systems": request.systems}),
        ));
        self.store.api_keys.create_api_key(OrgScope(caller.org_id), &key, &effects).await?;
        Ok(CreatedApiKey { api_key: ApiKeyView::from(&key), key: generated.key })
    }

    /// The caller's keys; organization admins see every key of the organization.
    pub async fn list_api_keys(&self, caller: &Principal, page: PageRequest) -> Result<Page<ApiKeyView>, AuthError> {
        let owner: Option<UserId> = if caller.is_org_admin() { None } else { caller.actor() };
        let keys = self.store.api_keys.list_api_keys(OrgScope(caller.org_id), owner, page).await?;
        Ok(Page::new(keys.iter().map(ApiKeyView::from).collect(), page.limit, |k| k.id))
    }

    pub async fn delete_api_key(&self, caller: &Principal, id: ApiKeyId, ctx: &ClientContext) -> Result<(), AuthError> {
        let scope = OrgScope(caller.org_id);
        let key = self.store.api_keys.get_api_key(scope, id).await?.ok_or(AuthError::NotFound("api key"))?;
        if key.user_id != caller.user_id && !caller.is_org_admin() {
            return Err(AuthError::NotFound("api key"));
        }
        let effects = Effects::none().audit(self.audit(
            Some(caller.org_id),
            caller.actor(),
            "api_key.revoked",
            Some(id.to_string()),
            ctx,
            json!({"name": key.name, "prefix": key.prefix}),
        ));
        if !self.store.api_keys.delete_api_key(scope, id, &effects).await? {
            return Err(AuthError::NotFound("api key"));
        }
        Ok(())
    }
}
