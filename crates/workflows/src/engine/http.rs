//! The `http` step: templated request, `Idempotency-Key` header stable across retries, connect
//! and total timeouts, a response size limit, and an egress check that never lets a workflow
//! reach cloud metadata endpoints.

use serde_json::{Map, Value, json};
use std::net::IpAddr;
use std::time::Duration;

use super::outcome::Outcome;
use crate::definition::{ErrorClass, HttpMethod, HttpStep};
use crate::expr::{EvalContext, Template, ValueTemplate};

/// Largest response body a step will read.
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// URL, headers and body of a request after template rendering.
type RenderedRequest = (String, Vec<(String, String)>, Option<Value>);

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Addresses no workflow may reach, whatever the configuration: link-local (cloud metadata at
/// 169.254.169.254 and friends), and the IPv6 metadata and link-local ranges.
pub fn is_always_denied(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xffc0) == 0xfe80 || v6.is_unspecified() || v6.segments() == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254]
        }
    }
}

async fn egress_allowed(url: &reqwest::Url) -> Result<(), String> {
    let host = url.host_str().ok_or("url has no host")?;
    if host.eq_ignore_ascii_case("metadata.google.internal") {
        return Err(format!("egress to {host} is denied"));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    for address in addresses {
        if is_always_denied(address.ip()) {
            return Err(format!("egress to {} is denied", address.ip()));
        }
    }
    Ok(())
}

pub async fn run_http(
    client: &reqwest::Client,
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
    let parsed = match reqwest::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => parsed,
        _ => return Outcome::failed(ErrorClass::Internal, format!("invalid http(s) url {url:?}")),
    };
    if let Err(message) = egress_allowed(&parsed).await {
        return Outcome::failed(ErrorClass::Internal, message);
    }
    let method = match step.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Head => reqwest::Method::HEAD,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
        HttpMethod::Options => reqwest::Method::OPTIONS,
    };
    let mut request = client.request(method, parsed).timeout(timeout).header("Idempotency-Key", idempotency_key);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request = match body {
        Some(Value::String(text)) => request.header("content-type", "text/plain; charset=utf-8").body(text),
        Some(value) => request.json(&value),
        None => request,
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => return Outcome::failed(ErrorClass::Timeout, "request timed out"),
        Err(error) => return Outcome::failed(ErrorClass::Network, format!("request failed: {error}")),
    };
    let status = response.status().as_u16();
    let mut header_map = Map::new();
    for (name, value) in response.headers() {
        if let Ok(text) = value.to_str() {
            header_map.insert(name.as_str().to_owned(), Value::String(text.to_owned()));
        }
    }
    let is_json =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.contains("json"));
    let mut bytes = Vec::new();
    let mut response = response;
    loop {
        match response.chunk().await {
            Ok(None) => break,
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Outcome::failed(
                        ErrorClass::Internal,
                        format!("response is larger than {MAX_RESPONSE_BYTES} bytes"),
                    );
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(error) if error.is_timeout() => return Outcome::failed(ErrorClass::Timeout, "response timed out"),
            Err(error) => return Outcome::failed(ErrorClass::Network, format!("reading the response failed: {error}")),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_addresses_are_denied() {
        assert!(is_always_denied("169.254.169.254".parse().unwrap()));
        assert!(is_always_denied("fd00:ec2::254".parse().unwrap()));
        assert!(is_always_denied("fe80::1".parse().unwrap()));
        assert!(!is_always_denied("127.0.0.1".parse().unwrap()));
        assert!(!is_always_denied("93.184.216.34".parse().unwrap()));
    }
}
