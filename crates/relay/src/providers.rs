//! The provider registry: validated creation, listing and removal of an organization's providers.

use auterity_auth::crypto::MasterKey;
use auterity_store::{OrgScope, Store, StoreError};
use auterity_types::error::FieldError;
use auterity_types::records::{AiProvider, AuditEntry, Effects, PageRequest};
use auterity_types::{ErrorCode, OrgId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const PROVIDER_TYPES: [&str; 5] = ["openai", "azure_openai", "anthropic", "openai_compatible", "local"];

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("request is invalid")]
    Validation(Vec<FieldError>),
    #[error("provider not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("failed to encrypt the provider key: {0}")]
    Crypto(String),
}

impl ProviderError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ProviderError::Validation(_) => ErrorCode::Validation,
            ProviderError::NotFound => ErrorCode::NotFound,
            ProviderError::Store(error) => error.code(),
            ProviderError::Crypto(_) => ErrorCode::Internal,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderRequest {
    pub name: String,
    /// `openai`, `azure_openai`, `anthropic`, `openai_compatible` or `local`.
    pub provider_type: String,
    pub endpoint_url: Option<String>,
    /// Stored encrypted; never returned.
    pub api_key: Option<String>,
    pub cost_per_token: Option<f64>,
    pub rate_limit_rpm: Option<i32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    pub provider_type: String,
    pub endpoint_url: Option<String>,
    /// Whether an API key is stored (the key itself is never returned).
    pub has_api_key: bool,
    pub is_active: bool,
    pub cost_per_token: Option<f64>,
    pub rate_limit_rpm: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl From<&AiProvider> for ProviderView {
    fn from(p: &AiProvider) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            provider_type: p.provider_type.clone(),
            endpoint_url: p.endpoint_url.clone(),
            has_api_key: p.api_key_encrypted.is_some(),
            is_active: p.is_active,
            cost_per_token: p.cost_per_token,
            rate_limit_rpm: p.rate_limit_rpm,
            created_at: p.created_at,
        }
    }
}

pub struct ProviderService {
    store: Store,
    master_key: MasterKey,
}

impl ProviderService {
    pub fn new(store: Store, master_key: MasterKey) -> Self {
        Self { store, master_key }
    }

    pub async fn create(
        &self,
        org: OrgId,
        actor: Option<UserId>,
        request: CreateProviderRequest,
    ) -> Result<ProviderView, ProviderError> {
        let mut errors = Vec::new();
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new("/name", "must be 1–100 characters"));
        }
        if !PROVIDER_TYPES.contains(&request.provider_type.as_str()) {
            errors.push(FieldError::new("/provider_type", format!("must be one of {}", PROVIDER_TYPES.join(", "))));
        }
        if let Some(url) = &request.endpoint_url
            && (!(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 500)
        {
            errors.push(FieldError::new("/endpoint_url", "must be an http(s) URL of at most 500 characters"));
        }
        if request.cost_per_token.is_some_and(|c| !c.is_finite() || !(0.0..100.0).contains(&c)) {
            errors.push(FieldError::new("/cost_per_token", "must be a non-negative number below 100"));
        }
        if request.rate_limit_rpm.is_some_and(|r| r <= 0) {
            errors.push(FieldError::new("/rate_limit_rpm", "must be positive"));
        }
        if !errors.is_empty() {
            return Err(ProviderError::Validation(errors));
        }
        let id = Uuid::now_v7();
        let api_key_encrypted = match request.api_key.as_deref().filter(|k| !k.is_empty()) {
            Some(key) => Some(
                self.master_key
                    .encrypt(key.as_bytes(), id.as_bytes())
                    .map_err(|e| ProviderError::Crypto(e.to_string()))?,
            ),
            None => None,
        };
        let provider = AiProvider {
            id,
            org_id: org,
            name: name.to_owned(),
            provider_type: request.provider_type,
            endpoint_url: request.endpoint_url,
            api_key_encrypted,
            is_active: true,
            cost_per_token: request.cost_per_token,
            rate_limit_rpm: request.rate_limit_rpm,
            created_at: Utc::now(),
        };
        let effects = Effects::none().audit(audit(org, actor, "provider.created", id, &provider.name));
        self.store.providers.create_provider(OrgScope(org), &provider, &effects).await?;
        Ok(ProviderView::from(&provider))
    }

    pub async fn list(&self, org: OrgId, page: PageRequest) -> Result<Vec<ProviderView>, ProviderError> {
        Ok(self.store.providers.list_providers(OrgScope(org), page).await?.iter().map(ProviderView::from).collect())
    }

    pub async fn delete(&self, org: OrgId, actor: Option<UserId>, id: Uuid) -> Result<(), ProviderError> {
        let effects = Effects::none().audit(audit(org, actor, "provider.deleted", id, ""));
        if self.store.providers.delete_provider(OrgScope(org), id, &effects).await? {
            Ok(())
        } else {
            Err(ProviderError::NotFound)
        }
    }
}

fn audit(org: OrgId, actor: Option<UserId>, action: &str, id: Uuid, name: &str) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        org_id: Some(org),
        actor_id: actor,
        action: action.to_owned(),
        target: Some(id.to_string()),
        ip: None,
        details: serde_json::json!({"name": name}),
        created_at: Utc::now(),
    }
}
