//! Builds the effective [`Config`] from its layers and validates it.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::{Config, Role};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("failed to read configuration: {0}")]
    Read(#[from] Box<figment::Error>),
}

/// Command-line flags; each set flag overrides every other layer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<Role>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
}

/// Flat environment names documented in the README, mapped onto their nested keys.
const ENV_ALIASES: &[(&str, &str)] = &[
    ("LISTEN", "server.listen"),
    ("DATA_DIR", "storage.data_dir"),
    ("DATABASE_URL", "storage.database_url"),
    ("REDIS_URL", "storage.redis_url"),
    ("NATS_URL", "storage.nats_url"),
    ("ROLES", "roles"),
    ("OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
    ("LOG_LEVEL", "telemetry.log_level"),
    ("LOG_FORMAT", "telemetry.log_format"),
    ("MASTER_KEY", "auth.master_key"),
    ("ADMIN_EMAIL", "auth.admin_email"),
    ("ADMIN_PASSWORD", "auth.admin_password"),
];

/// Loads defaults → `config_path` (or `./auterity.toml` when present) → environment → flags.
pub fn load(config_path: Option<&Path>, flags: &FlagOverrides) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    match config_path {
        Some(path) => {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        None => figment = figment.merge(Toml::file("auterity.toml")),
    }
    figment = figment.merge(Env::prefixed("AUTERITY_").filter(|key| key.as_str().contains("__")).split("__")).merge(
        Env::prefixed("AUTERITY_").filter_map(|key| {
            ENV_ALIASES
                .iter()
                .find(|(alias, _)| key.as_str().eq_ignore_ascii_case(alias))
                .map(|(_, nested)| (*nested).into())
        }),
    );
    load_from(figment.merge(Serialized::defaults(flags_as_nested(flags))))
}

/// Extracts and validates a fully layered figment (tests build their own).
pub fn load_from(figment: Figment) -> Result<Config, ConfigError> {
    let config: Config = figment.extract().map_err(Box::new)?;
    validate(&config)?;
    Ok(config)
}

fn flags_as_nested(flags: &FlagOverrides) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    let mut put = |section: &str, key: &str, value: serde_json::Value| {
        let entry = root.entry(section.to_owned()).or_insert_with(|| serde_json::json!({}));
        if let Some(map) = entry.as_object_mut() {
            map.insert(key.to_owned(), value);
        }
    };
    if let Some(v) = &flags.listen {
        put("server", "listen", v.clone().into());
    }
    if let Some(v) = &flags.data_dir {
        put("storage", "data_dir", v.display().to_string().into());
    }
    if let Some(v) = &flags.database_url {
        put("storage", "database_url", v.clone().into());
    }
    if let Some(v) = &flags.redis_url {
        put("storage", "redis_url", v.clone().into());
    }
    if let Some(v) = &flags.nats_url {
        put("storage", "nats_url", v.clone().into());
    }
    if let Some(v) = &flags.otlp_endpoint {
        put("telemetry", "otlp_endpoint", v.clone().into());
    }
    if let Some(roles) = &flags.roles {
        root.insert("roles".to_owned(), serde_json::to_value(roles).unwrap_or_default());
    }
    serde_json::Value::Object(root)
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let invalid = |msg: String| Err(ConfigError::Invalid(msg));
    if config.server.listen.parse::<SocketAddr>().is_err() {
        return invalid(format!(
            "server.listen {:?} is not a socket address like 127.0.0.1:8080",
            config.server.listen
        ));
    }
    if !(1..=86_400).contains(&config.triggers.webhook_replay_window_secs) {
        return invalid("triggers.webhook_replay_window_secs must be between 1 and 86400".to_owned());
    }
    if config.roles.is_empty() {
        return invalid("roles must name at least one of api, worker, trainer".to_owned());
    }
    let url = config.storage.effective_database_url();
    if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return invalid("storage.database_url must start with sqlite:, postgres:// or postgresql://".to_owned());
    }
    if config.storage.max_connections.is_some_and(|n| !(1..=1_000).contains(&n)) {
        return invalid("storage.max_connections must be between 1 and 1000".to_owned());
    }
    if let Some(redis) = &config.storage.redis_url
        && !(redis.expose().starts_with("redis://") || redis.expose().starts_with("rediss://"))
    {
        return invalid("storage.redis_url must start with redis:// or rediss://".to_owned());
    }
    if let Some(nats) = &config.storage.nats_url
        && !(nats.expose().starts_with("nats://") || nats.expose().starts_with("tls://"))
    {
        return invalid("storage.nats_url must start with nats:// or tls://".to_owned());
    }
    if config.server.body_limit_bytes < 1024 {
        return invalid("server.body_limit_bytes must be at least 1024".to_owned());
    }
    if config.server.request_timeout_secs == 0 {
        return invalid("server.request_timeout_secs must be positive".to_owned());
    }
    if !(60..=86_400).contains(&config.auth.access_token_ttl_secs) {
        return invalid("auth.access_token_ttl_secs must be between 60 and 86400".to_owned());
    }
    if config.auth.refresh_token_ttl_secs < config.auth.access_token_ttl_secs {
        return invalid("auth.refresh_token_ttl_secs must be at least the access token lifetime".to_owned());
    }
    if config.auth.argon2_memory_kib < 8 || config.auth.argon2_iterations == 0 {
        return invalid("auth.argon2_memory_kib must be ≥ 8 and auth.argon2_iterations ≥ 1".to_owned());
    }
    if !matches!(config.telemetry.log_format.as_str(), "json" | "pretty") {
        return invalid("telemetry.log_format must be json or pretty".to_owned());
    }
    let egress = &config.egress;
    if egress.connect_timeout_ms == 0 || egress.request_timeout_secs == 0 || egress.max_response_bytes == 0 {
        return invalid(
            "egress.connect_timeout_ms, egress.request_timeout_secs and egress.max_response_bytes must be positive"
                .to_owned(),
        );
    }
    for host in egress.allowed_hosts.iter().chain(&egress.denied_hosts) {
        let name = host.strip_prefix("*.").unwrap_or(host);
        if name.is_empty() || (name.contains(['/', ':', '*', ' ']) && name.parse::<std::net::IpAddr>().is_err()) {
            return invalid(format!("egress host {host:?} must be a host name, an IP address or *.domain"));
        }
    }
    for origin in &config.server.cors_allowed_origins {
        if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
            return invalid(format!("server.cors_allowed_origins entry {origin:?} must be * or an http(s) origin"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(toml: &str, flags: &FlagOverrides) -> Result<Config, ConfigError> {
        load_from(
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::string(toml))
                .merge(Serialized::defaults(flags_as_nested(flags))),
        )
    }

    #[test]
    fn defaults_are_embedded() {
        let config = from_toml("", &FlagOverrides::default()).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert_eq!(config.storage.effective_database_url(), "sqlite://./auterity-data/auterity.db");
        assert_eq!(config.roles.len(), 3);
    }

    #[test]
    fn flags_override_file() {
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:9000".into()),
            roles: Some(vec![Role::Worker]),
            ..Default::default()
        };
        let config = from_toml("[server]\nlisten = \"0.0.0.0:1\"\nbody_limit_bytes = 4096\n", &flags).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:9000");
        assert_eq!(config.server.body_limit_bytes, 4096);
        assert_eq!(config.roles, vec![Role::Worker]);
    }

    #[test]
    fn rejects_bad_values_and_unknown_keys() {
        assert!(from_toml("[server]\nlisten = \"nope\"\n", &FlagOverrides::default()).is_err());
        assert!(from_toml("[server]\nlistn = \"127.0.0.1:1\"\n", &FlagOverrides::default()).is_err());
        assert!(from_toml("[storage]\ndatabase_url = \"mysql://x\"\n", &FlagOverrides::default()).is_err());
    }

    #[test]
    fn workflow_services_are_optional_and_their_secrets_redacted() {
        let config = from_toml("", &FlagOverrides::default()).unwrap();
        assert!(config.workflows.ai.is_none() && config.workflows.smtp.is_none());
        let toml = "[workflows.ai]\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key = \"sk-S3cret\"\n\
                    [workflows.smtp]\nhost = \"mail.local\"\nfrom = \"a@b.test\"\ntls = \"none\"\n";
        let config = from_toml(toml, &FlagOverrides::default()).unwrap();
        let ai = config.workflows.ai.as_ref().unwrap();
        assert_eq!(ai.api_key.as_ref().unwrap().expose(), "sk-S3cret");
        assert_eq!(config.workflows.smtp.as_ref().unwrap().tls, crate::SmtpTls::None);
        assert!(!toml::to_string(&config).unwrap().contains("S3cret"));
        assert!(from_toml("[workflows.smtp]\nhost = \"x\"\n", &FlagOverrides::default()).is_err(), "from is required");
    }

    #[test]
    fn egress_section_is_read_and_checked() {
        let toml = "[egress]\nallowed_hosts = [\"*.example.com\", \"10.0.0.5\"]\ndenied_cidrs = [\"203.0.113.0/24\"]\n\
                    deny_private = true\nmax_response_bytes = 1024\n";
        let config = from_toml(toml, &FlagOverrides::default()).unwrap();
        assert!(config.egress.deny_private);
        assert_eq!(config.egress.allowed_hosts, ["*.example.com", "10.0.0.5"]);
        assert_eq!(config.egress.max_response_bytes, 1024);
        assert_eq!(Config::default().egress.max_response_bytes, 10 * 1024 * 1024);
        for bad in [
            "[egress]\nmax_response_bytes = 0\n",
            "[egress]\nconnect_timeout_ms = 0\n",
            "[egress]\nallowed_hosts = [\"http://x.com/\"]\n",
            "[egress]\ndenied_cidrs = [\"not-a-cidr\"]\n",
        ] {
            assert!(from_toml(bad, &FlagOverrides::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn pool_size_is_checked() {
        let default = from_toml("", &FlagOverrides::default()).unwrap().storage;
        let cores = u32::try_from(std::thread::available_parallelism().unwrap().get()).unwrap();
        assert_eq!(default.pool_size(), (2 * cores + 2).min(16), "SQLite: the writer and 2 x cores + 1 readers");
        let postgres = from_toml("[storage]\ndatabase_url = \"postgres://db/x\"\n", &FlagOverrides::default()).unwrap();
        assert_eq!(postgres.storage.pool_size(), 16);
        assert_eq!(
            from_toml("[storage]\nmax_connections = 7\n", &FlagOverrides::default()).unwrap().storage.pool_size(),
            7
        );
        for bad in ["[storage]\nmax_connections = 0\n", "[storage]\nmax_connections = 5000\n"] {
            assert!(from_toml(bad, &FlagOverrides::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_redacted_when_shown() {
        let config = from_toml("[auth]\nadmin_password = \"S3cret-password!\"\n", &FlagOverrides::default()).unwrap();
        let shown = toml::to_string(&config).unwrap();
        assert!(!shown.contains("S3cret"));
        assert!(shown.contains("[redacted]"));
    }
}
