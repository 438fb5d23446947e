//! The `http` step: templated request, `Idempotency-Key` header stable across retries; timeouts,
//! the response size limit and the egress policy are applied by [`Outbound`].

use serde_json::{Map, Value, json};
use std::time::Duration;

use super::outcome::Outcome;
use crate::definition::{ErrorClass, HttpMethod, HttpStep};
use crate::expr::{EvalContext, Template, ValueTemplate};
use crate::outbound::Outbound;

/// URL, headers and body of a request after template rendering.
type RenderedRequest = (String, Vec<(String, String)>, Option<Value>);

pub async fn run_http(
    outbound: &Outbound,
    deny_private: bool,
    step: &HttpStep,
    context: &EvalContext,
    idempotency_key: &str,
    timeout: Duration,
) -> Outcome {
    let render = || -> Result<RenderedRequest, String> {
        let url = Template::parse(&step.url).and_then(|t| t.render_string(context)).map_err(|e| format!("url: {e}"))?;
        let mut headers = Vec::new();
        for (name, value) in &step.headers {
            let rendered = Template::parse(value)
                .and_then(|t| t.render_string(context))
                .map_err(|e| format!("headers.{name}: {e}"))?;
            headers.push((name.clone(), rendered));
        }
        let body = match &step.body {
            Some(body) => {
                Some(ValueTemplate::compile(body).and_then(|t| t.render(context)).map_err(|e| format!("body: {e}"))?)
            }
            None => None,
        };
        Ok((url, headers, body))
    };
    let (url, headers, body) = match render() {
        Ok(parts) => parts,
        Err(message) => return Outcome::failed(ErrorClass::Expression, message),
    };
    let method = match step.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Head => reqwest::Method::HEAD,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
        HttpMethod::Options => reqwest::Method::OPTIONS,
    };
    let mut request = match outbound.request(method, &url, deny_private) {
        Ok(request) => request.header("Idempotency-Key", idempotency_key),
        Err(error) => return Outcome::failed(error.class(), error.to_string()),
    };
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request = match body {
        Some(Value::String(text)) => request.header("content-type", "text/plain; charset=utf-8").body(text),
        Some(value) => request.json(&value),
        None => request,
    };
    let response = match outbound.send(request, timeout).await {
        Ok(response) => response,
        Err(error) => return Outcome::failed(error.class(), error.to_string()),
    };
    let status = response.status;
    let mut header_map = Map::new();
    for (name, value) in &response.headers {
        if let Ok(text) = value.to_str() {
            header_map.insert(name.as_str().to_owned(), Value::String(text.to_owned()));
        }
    }
    let is_json =
        response.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.contains("json"));
    let bytes = response.body;
    let body = if is_json {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    };
    let output = json!({"status": status, "headers": header_map, "body": body});
    let expected = match &step.expect_status {
        Some(list) => list.iter().any(|e| e.matches(status)),
        None => (200..300).contains(&status),
    };
    if expected {
        return Outcome::Completed { output, next: None };
    }
    let class = match status {
        429 => ErrorClass::Http429,
        500..=599 => ErrorClass::Http5xx,
        _ => ErrorClass::Http4xx,
    };
    Outcome::Failed {
        class,
        error: json!({"class": class, "message": format!("unexpected status {status}"), "response": output}),
    }
}
