//! The `ai` step: one OpenAI-compatible chat completion (`POST <base_url>/chat/completions`) on
//! the endpoint of `[workflows.ai]` — the interface the AI gateway will take over. Output
//! `{text, json, model, usage, finish_reason}`; `json` is the reply parsed (and checked against the
//! schema) when the step asks for JSON, else `null`. Timeouts as for any step; 429 → `rate_limited`,
//! 5xx and connection failures → `unavailable`, so the default retry policy retries them.

use auterity_config::AiEndpointConfig;
use serde_json::{Map, Value, json};
use std::time::Duration;

use super::outcome::Outcome;
use crate::definition::{AiRole, AiStep, ErrorClass, ResponseFormat, ResponseFormatName};
use crate::expr::{EvalContext, Template};
use crate::outbound::Outbound;

fn render(source: &str, context: &EvalContext, field: &str) -> Result<String, Outcome> {
    Template::parse(source)
        .and_then(|t| t.render_string(context))
        .map_err(|e| Outcome::failed(ErrorClass::Expression, format!("{field}: {e}")))
}

/// The request body of the step.
fn request_body(endpoint: &AiEndpointConfig, step: &AiStep, context: &EvalContext) -> Result<Value, Outcome> {
    let mut messages = Vec::new();
    if let Some(system) = &step.system {
        messages.push(json!({"role": "system", "content": render(system, context, "system")?}));
    }
    if let Some(prompt) = &step.prompt {
        messages.push(json!({"role": "user", "content": render(prompt, context, "prompt")?}));
    }
    for (index, message) in step.messages.iter().flatten().enumerate() {
        let role = match message.role {
            AiRole::System => "system",
            AiRole::User => "user",
            AiRole::Assistant => "assistant",
        };
        messages
            .push(json!({"role": role, "content": render(&message.content, context, &format!("messages/{index}"))?}));
    }
    let mut model = render(&step.model, context, "model")?;
    if model.is_empty() || model == "default" {
        model = endpoint.model.clone().unwrap_or_default();
    }
    if model.is_empty() {
        return Err(Outcome::failed(ErrorClass::Internal, "no model: set the step's model or [workflows.ai].model"));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(temperature) = step.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    if let Some(max_tokens) = step.max_tokens {
        body.insert("max_tokens".into(), json!(max_tokens));
    }
    match &step.response_format {
        Some(ResponseFormat::Named(ResponseFormatName::Json)) => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            body.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": {"name": "output", "schema": json_schema, "strict": true}}),
            );
        }
        Some(ResponseFormat::Named(ResponseFormatName::Text)) | None => {}
    }
    Ok(Value::Object(body))
}

/// The parsed reply when the step asked for JSON.
fn parse_reply(step: &AiStep, text: &str) -> Result<Value, Outcome> {
    let schema = match &step.response_format {
        Some(ResponseFormat::Named(ResponseFormatName::Json)) => None,
        Some(ResponseFormat::JsonSchema { json_schema }) => Some(json_schema),
        _ => return Ok(Value::Null),
    };
    let parsed: Value = serde_json::from_str(text.trim())
        .map_err(|e| Outcome::failed(ErrorClass::Internal, format!("the model's reply is not JSON: {e}")))?;
    if let Some(schema) = schema {
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| Outcome::failed(ErrorClass::Internal, format!("response_format schema: {e}")))?;
        if let Some(error) = validator.iter_errors(&parsed).next() {
            return Err(Outcome::failed(
                ErrorClass::Internal,
                format!("the model's reply does not match the schema at {}: {error}", error.instance_path()),
            ));
        }
    }
    Ok(parsed)
}

/// The endpoint comes from the operator's configuration, not from a workflow, so the call is not
/// subject to an organization's private-range denial; timeouts and the size limit still apply.
pub async fn run(
    outbound: &Outbound,
    endpoint: Option<&AiEndpointConfig>,
    step: &AiStep,
    context: &EvalContext,
    idempotency_key: &str,
    timeout: Duration,
) -> Outcome {
    let Some(endpoint) = endpoint else {
        return Outcome::failed(ErrorClass::Internal, "ai steps need an endpoint: configure [workflows.ai] (base_url)");
    };
    let body = match request_body(endpoint, step, context) {
        Ok(body) => body,
        Err(outcome) => return outcome,
    };
    let url = format!("{}/chat/completions", endpoint.base_url.trim_end_matches('/'));
    let mut request = match outbound.request(reqwest::Method::POST, &url, false) {
        Ok(request) => request.header("Idempotency-Key", idempotency_key).json(&body),
        Err(error) => return Outcome::failed(error.class(), error.to_string()),
    };
    if let Some(key) = &endpoint.api_key {
        request = request.bearer_auth(key.expose());
    }
    let response = match outbound.send(request, timeout).await {
        Ok(response) => response,
        Err(error) => return Outcome::failed(error.class(), format!("the AI endpoint: {error}")),
    };
    let (status, bytes) = (response.status, response.body);
    let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let class = match status {
            429 => ErrorClass::RateLimited,
            500..=599 => ErrorClass::Unavailable,
            _ => ErrorClass::Internal,
        };
        let detail = reply.pointer("/error/message").and_then(Value::as_str).unwrap_or("no detail");
        return Outcome::failed(class, format!("the AI endpoint answered {status}: {detail}"));
    }
    let choice = reply.pointer("/choices/0");
    let Some(text) = choice.and_then(|c| c.pointer("/message/content")).and_then(Value::as_str) else {
        return Outcome::failed(ErrorClass::Internal, "the AI response has no choices[0].message.content");
    };
    let parsed = match parse_reply(step, text) {
        Ok(parsed) => parsed,
        Err(outcome) => return outcome,
    };
    let usage = reply.get("usage").cloned().unwrap_or(Value::Null);
    let output = json!({
        "text": text,
        "json": parsed,
        "model": reply.get("model").cloned().unwrap_or(body["model"].clone()),
        "usage": {
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "total_tokens": usage.get("total_tokens"),
        },
        "finish_reason": choice.and_then(|c| c.get("finish_reason")),
    });
    Outcome::Completed { output, next: None }
}
