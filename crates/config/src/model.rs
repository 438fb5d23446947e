//! The configuration model with its defaults. Sections map to `[server]`, `[storage]`, `[auth]`,
//! `[telemetry]` in `auterity.toml` and to `AUTERITY_<SECTION>__<KEY>` in the environment.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::Secret;

/// Process roles (`--roles api,worker,trainer`). Later parts give each its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Api,
    Worker,
    Trainer,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_roles")]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub workflows: crate::WorkflowsConfig,
    #[serde(default)]
    pub egress: EgressConfig,
    #[serde(default)]
    pub triggers: TriggersConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            roles: default_roles(),
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            auth: AuthConfig::default(),
            telemetry: TelemetryConfig::default(),
            workflows: crate::WorkflowsConfig::default(),
            egress: EgressConfig::default(),
            triggers: TriggersConfig::default(),
        }
    }
}

fn default_roles() -> Vec<Role> {
    vec![Role::Api, Role::Worker, Role::Trainer]
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket address to listen on.
    pub listen: String,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Whole-request deadline; a slower request gets 408.
    pub request_timeout_secs: u64,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// Origins allowed by CORS; empty = same-origin only. `"*"` allows any origin (no credentials).
    pub cors_allowed_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` is believed (CIDRs). Anyone else's is ignored.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            body_limit_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 30,
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory for the embedded SQLite database, the generated master key and artifacts.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://<data_dir>/auterity.db`.
    pub database_url: Option<Secret>,
    /// Connections in the pool (1–1000). Unset: by backend, see [`StorageConfig::pool_size`].
    pub max_connections: Option<u32>,
    /// PostgreSQL schema to use (created if missing); tests give each run its own.
    pub database_schema: Option<String>,
    /// Redis for revocation, throttling and rate limits shared by all replicas.
    pub redis_url: Option<Secret>,
    /// Prefix for every Redis key this process writes.
    pub redis_key_prefix: String,
    /// NATS JetStream for events and work distribution.
    pub nats_url: Option<Secret>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./auterity-data"),
            database_url: None,
            max_connections: None,
            database_schema: None,
            redis_url: None,
            redis_key_prefix: "auterity:".to_owned(),
            nats_url: None,
        }
    }
}

impl StorageConfig {
    /// The database URL in force: the configured one, else SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("auterity.db").display()),
        }
    }

    /// `max_connections`, or by backend: on SQLite the writer plus `2 × cores + 1` readers (each
    /// reader is a thread with its own page and statement caches, and more than the cores can
    /// keep busy only hold memory: 6 on two cores serve authorized reads as fast as 16, with
    /// ~9 MiB less resident after load), on PostgreSQL 16.
    pub fn pool_size(&self) -> u32 {
        self.max_connections.unwrap_or_else(|| {
            if self.effective_database_url().starts_with("sqlite:") {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                u32::try_from(2 * cores + 2).unwrap_or(u32::MAX).min(16)
            } else {
                16
            }
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Base64 of 32 bytes. Unset: generated on first start and kept in `<data_dir>/master.key`.
    pub master_key: Option<Secret>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Whether anyone may create an account (`POST /api/auth/register`); off = admins create users.
    pub self_signup: bool,
    /// The seed's composition rule (upper, lower, digit, symbol). OWASP ASVS 5 discourages it;
    /// some auditors require it.
    pub password_composition: bool,
    /// Roles whose members must use TOTP MFA to sign in (e.g. `["admin", "superadmin"]`).
    pub mfa_required_roles: Vec<String>,
    /// First-start administrator; a password is generated and printed once if unset.
    pub admin_email: Option<String>,
    pub admin_password: Option<Secret>,
    /// Name of the organization created on first start.
    pub default_org_name: String,
    /// argon2id cost (OWASP minimum by default).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub throttle: ThrottleConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            master_key: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            self_signup: false,
            password_composition: true,
            mfa_required_roles: Vec::new(),
            admin_email: None,
            admin_password: None,
            default_org_name: "Default".to_owned(),
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            throttle: ThrottleConfig::default(),
        }
    }
}

/// Login throttling: after the free attempts, each failure doubles a temporary block.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    pub account_free_attempts: u32,
    pub ip_free_attempts: u32,
    pub window_secs: u64,
    pub base_delay_secs: u64,
    pub max_delay_secs: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_free_attempts: 5,
            ip_free_attempts: 50,
            window_secs: 900,
            base_delay_secs: 1,
            max_delay_secs: 900,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `json` (default) or `pretty`.
    pub log_format: String,
    /// A `tracing` filter, e.g. `info,auterity_api=debug`.
    pub log_level: String,
    /// OTLP/HTTP endpoint for traces, e.g. `http://127.0.0.1:4318`.
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: "json".to_owned(),
            log_level: "info".to_owned(),
            otlp_endpoint: None,
            service_name: "auterity".to_owned(),
        }
    }
}

/// Outbound calls made on behalf of workflows (`http` steps, `notify`, outgoing webhooks): limits
/// and the egress policy. Cloud metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254,
/// 100.100.100.200, `metadata.google.internal`) are denied whatever is listed here.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// When non-empty, only these hosts may be called: exact names (`api.example.com`), literal
    /// IPs, or `*.example.com` for any subdomain.
    pub allowed_hosts: Vec<String>,
    /// Hosts never called (same forms as `allowed_hosts`); checked before the allow list.
    pub denied_hosts: Vec<String>,
    /// Addresses in these ranges are allowed even when private ranges are denied.
    pub allowed_cidrs: Vec<IpNet>,
    /// Addresses in these ranges are never connected to.
    pub denied_cidrs: Vec<IpNet>,
    /// Deny private, loopback, CGNAT and unique-local ranges, for organizations that have not
    /// chosen (`PUT /api/orgs/current/egress` sets it per organization).
    pub deny_private: bool,
    /// Limit on establishing a connection (DNS excluded).
    pub connect_timeout_ms: u64,
    /// Limit on a whole call (connect, send, read the response); a step's `timeout` may lower it.
    pub request_timeout_secs: u64,
    /// Largest response body read; a larger one fails the call (class `response_too_large`).
    pub max_response_bytes: usize,
    /// Redirects followed per call, each one checked against the policy.
    pub max_redirects: usize,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            denied_hosts: Vec::new(),
            allowed_cidrs: Vec::new(),
            denied_cidrs: Vec::new(),
            deny_private: false,
            connect_timeout_ms: 5_000,
            request_timeout_secs: 60,
            max_response_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
        }
    }
}

/// Workflow triggers (`[triggers]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriggersConfig {
    /// A signed webhook request whose timestamp is further than this from now is refused; a
    /// signature is accepted once within it.
    pub webhook_replay_window_secs: u64,
}

impl Default for TriggersConfig {
    fn default() -> Self {
        Self { webhook_replay_window_secs: 300 }
    }
}
