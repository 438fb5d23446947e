//! Layered configuration: built-in defaults → `auterity.toml` → `AUTERITY_*` environment → flags,
//! lowest precedence first, validated once at start-up. No other crate reads the environment.

mod load;
mod model;
mod secret;
mod workflows;

pub use load::{ConfigError, FlagOverrides, load, load_from};
pub use model::{
    AuthConfig, Config, EgressConfig, Role, ServerConfig, StorageConfig, TelemetryConfig, ThrottleConfig,
    TriggersConfig,
};
pub use secret::Secret;
pub use workflows::{AiEndpointConfig, SmtpConfig, SmtpTls, WorkflowsConfig};
