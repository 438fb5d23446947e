//! `[workflows]`: the outside services workflow steps reach — the OpenAI-compatible endpoint of
//! `ai` steps (until the AI gateway exists) and the SMTP relay of `notify` email steps. Either may
//! be absent; a step that needs a missing one fails with a clear error.

use serde::{Deserialize, Serialize};

use crate::Secret;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkflowsConfig {
    /// `[workflows.ai]`; e.g. `AUTERITY_WORKFLOWS__AI__BASE_URL`, `…__API_KEY`.
    pub ai: Option<AiEndpointConfig>,
    /// `[workflows.smtp]`.
    pub smtp: Option<SmtpConfig>,
}

/// An OpenAI-compatible chat completions endpoint: requests go to `<base_url>/chat/completions`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiEndpointConfig {
    /// E.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// The model used by steps whose `model` is `"default"` (or renders empty).
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 25 without TLS, 587 with STARTTLS, 465 with implicit TLS.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// The `From` address of every message.
    pub from: String,
    #[serde(default)]
    pub tls: SmtpTls,
}

/// How the SMTP connection is secured (rustls, aws-lc-rs provider, webpki roots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text: only for a relay on a trusted network (or tests).
    None,
    /// Upgrade with STARTTLS; refuse a server that does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}
