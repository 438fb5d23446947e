//! Shared state handed to every handler.

use auterity_auth::AuthService;
use auterity_config::Config;
use auterity_events::Events;
use auterity_store::Store;
use auterity_types::OrgId;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub events: Events,
    pub auth: Arc<AuthService>,
    pub providers: Arc<auterity_relay::providers::ProviderService>,
    pub workflows: Arc<auterity_workflows::engine::service::WorkflowService>,
    /// Workflow secrets (encrypted per organization; values never leave through the API).
    pub secrets: Arc<auterity_workflows::secrets::SecretService>,
    /// Workflow variables (`env` in expressions; plain values).
    pub variables: Arc<auterity_workflows::variables::VariableService>,
    pub triggers: Arc<auterity_workflows::triggers::TriggerService>,
    pub default_org: OrgId,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub nats: Option<async_nats::Client>,
}
