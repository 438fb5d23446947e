//! Step kinds that act on the outside world or compute a value: `http`, `ai`, `model`,
//! `mcp_tool`, `transform`, `notify`, `subworkflow`. Template-valued fields hold the raw JSON of
//! the definition; [`crate::expr`] compiles them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `http`: one request. Output `{status, headers, body}`; `body` is parsed JSON when the
/// response says `application/json`, else a string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpStep {
    pub method: HttpMethod,
    /// String template.
    pub url: String,
    /// Header name → string template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Value template; sent as JSON (a string result is sent as-is, `text/plain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Statuses counted as success; absent = any 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<Vec<ExpectStatus>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

/// An exact status (`201`) or a class (`"2xx"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExpectStatus {
    Code(u16),
    Class(String),
}

impl ExpectStatus {
    pub fn matches(&self, status: u16) -> bool {
        match self {
            ExpectStatus::Code(code) => *code == status,
            ExpectStatus::Class(class) => {
                class.len() == 3 && class.ends_with("xx") && class.as_bytes()[0] == b'0' + (status / 100) as u8
            }
        }
    }
}

/// `ai`: one chat completion through the AI gateway. Output `{text, json, model, usage}`;
/// `json` is the parsed reply when `response_format` asks for JSON, else `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AiStep {
    /// Gateway model name or alias; string template.
    pub model: String,
    /// String template: shorthand for one user message. Exactly one of `prompt`/`messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// String template of a system message put first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<AiMessage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AiMessage {
    pub role: AiRole,
    /// String template.
    pub content: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiRole {
    System,
    User,
    Assistant,
}

/// `"text"`, `"json"` (any JSON object), or `{"json_schema": <schema>}` (JSON matching it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponseFormat {
    Named(ResponseFormatName),
    JsonSchema { json_schema: Value },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatName {
    Text,
    Json,
}

/// `model`: inference on a model deployed by the model platform. Output: the model's response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStep {
    /// Registered model name.
    pub model: String,
    /// Deployment (or alias) to call; absent = the model's default deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Value template: the inference request body.
    pub input: Value,
}

/// `mcp_tool`: a `tools/call` on a configured MCP server. Output `{content, structured, is_error}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpToolStep {
    pub server: String,
    pub tool: String,
    /// Value template; must render to an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

/// `transform`: computes a value. Output: the rendered `output`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformStep {
    /// Value template: `"${expr}"` for one expression, or an object/array of templates.
    pub output: Value,
}

/// `notify`: a webhook POST, or an email through the configured SMTP relay.
/// Output: `{delivered: true, status?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotifyStep {
    pub channel: NotifyChannel,
    /// Webhook: string template of the target URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Webhook: header name → string template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Email: recipients, each a string template (one may render to a list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Email: string template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Webhook: value template sent as JSON. Email: string template, the plain-text body.
    pub body: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyChannel {
    Webhook,
    Email,
}

/// `subworkflow`: starts a run of another workflow and waits for it. Output: the child's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubworkflowStep {
    /// Name (or id) of the workflow to run.
    pub workflow: String,
    /// Version to run; absent = the latest version when this step starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Child input name → value template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expect_status_matches_codes_and_classes() {
        assert!(ExpectStatus::Code(201).matches(201));
        assert!(!ExpectStatus::Code(201).matches(200));
        assert!(ExpectStatus::Class("2xx".into()).matches(204));
        assert!(!ExpectStatus::Class("2xx".into()).matches(404));
        assert!(ExpectStatus::Class("4xx".into()).matches(404));
    }

    #[test]
    fn response_format_forms() {
        let named: ResponseFormat = serde_json::from_value(json!("json")).unwrap();
        assert_eq!(named, ResponseFormat::Named(ResponseFormatName::Json));
        let schema: ResponseFormat = serde_json::from_value(json!({"json_schema": {"type": "object"}})).unwrap();
        assert!(matches!(schema, ResponseFormat::JsonSchema { .. }));
    }
}
