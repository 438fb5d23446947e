//! Outbound HTTP made on behalf of workflows (`http` steps, `notify`, outgoing webhooks): one
//! place that applies the egress policy, the connect and total timeouts and the response size
//! limit. Use [`Outbound::request`] and [`Outbound::send`]; never build a `reqwest::Client` for
//! workflow traffic elsewhere.
//!
//! The policy is enforced where it cannot be bypassed: names are resolved by [`PolicyResolver`],
//! which drops every address the policy denies (DNS rebinding gets nothing to connect to), literal
//! IPs are checked before sending, and every redirect target is checked again before it is
//! followed. TLS is rustls with the aws-lc-rs provider, the tree's only crypto provider, and the
//! Mozilla roots from `webpki-roots`.

use auterity_config::EgressConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::definition::ErrorClass;
use crate::egress::{EgressDenied, EgressPolicy};

/// Installs aws-lc-rs as rustls' process-wide provider. reqwest builds its TLS configuration
/// from that default, and panics when there is none, so every process that builds a
/// `reqwest::Client` calls this first (idempotent).
pub fn install_crypto_provider() {
    // Err only means a provider is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Why an outbound call failed; [`OutboundError::class`] is the step error class.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("invalid url: {0}")]
    InvalidUrl(String),
    #[error(transparent)]
    Denied(#[from] EgressDenied),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Network(String),
    #[error("response is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("the outbound http client is unavailable: {0}")]
    Setup(String),
}

impl OutboundError {
    pub fn class(&self) -> ErrorClass {
        match self {
            OutboundError::InvalidUrl(_) | OutboundError::Setup(_) => ErrorClass::Internal,
            OutboundError::Denied(_) => ErrorClass::EgressDenied,
            OutboundError::Timeout(_) => ErrorClass::Timeout,
            OutboundError::Network(_) => ErrorClass::Network,
            OutboundError::TooLarge(_) => ErrorClass::ResponseTooLarge,
        }
    }
}

/// A response read in full (within the size limit).
#[derive(Debug)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Resolves names with the system resolver and keeps only the addresses the policy allows.
struct PolicyResolver {
    policy: Arc<EgressPolicy>,
    deny_private: bool,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let deny_private = self.deny_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            policy.check_host(&host, deny_private)?;
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let mut allowed: Vec<SocketAddr> = Vec::new();
            let mut denied = None;
            for address in resolved {
                match policy.check_ip(address.ip(), deny_private) {
                    Ok(()) => allowed.push(address),
                    Err(reason) => denied = Some(reason),
                }
            }
            if allowed.is_empty() {
                let reason = denied.unwrap_or_else(|| EgressDenied(format!("{host} resolved to no address")));
                return Err(Box::new(EgressDenied(format!("{host}: {}", reason.0))) as Box<_>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct OutboundLimits {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub max_redirects: usize,
}

struct Inner {
    policy: Arc<EgressPolicy>,
    limits: OutboundLimits,
    /// Clients with private ranges allowed / denied (the resolver and redirect policy are fixed
    /// per client), or why they could not be built: then every call fails, closed.
    clients: Result<(reqwest::Client, reqwest::Client), String>,
}

/// The outbound client of this process, cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("limits", &self.inner.limits).finish_non_exhaustive()
    }
}

impl Default for Outbound {
    /// The default configuration; see `EgressConfig`.
    fn default() -> Self {
        Self::new(&EgressConfig::default())
    }
}

impl Outbound {
    pub fn new(config: &EgressConfig) -> Self {
        install_crypto_provider();
        let policy = Arc::new(EgressPolicy::from_config(config));
        let limits = OutboundLimits {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            max_response_bytes: config.max_response_bytes,
            max_redirects: config.max_redirects,
        };
        let client = |deny_private: bool| build_client(policy.clone(), limits, deny_private);
        let clients = client(false).and_then(|open| Ok((open, client(true)?))).map_err(|e| e.to_string());
        Self { inner: Arc::new(Inner { clients, policy, limits }) }
    }

    /// Whether the clients were built; the platform refuses to start otherwise.
    pub fn check(&self) -> Result<(), OutboundError> {
        self.inner.clients.as_ref().map(|_| ()).map_err(|e| OutboundError::Setup(e.clone()))
    }

    pub fn policy(&self) -> &EgressPolicy {
        &self.inner.policy
    }

    pub fn limits(&self) -> OutboundLimits {
        self.inner.limits
    }

    /// A request to `url`, refused before anything is sent when the URL is not http(s) or its
    /// host is denied. `deny_private` is the calling organization's choice.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        deny_private: bool,
    ) -> Result<reqwest::RequestBuilder, OutboundError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| OutboundError::InvalidUrl(format!("{e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::InvalidUrl(format!("scheme {} is not http or https", parsed.scheme())));
        }
        let host = parsed.host_str().ok_or_else(|| OutboundError::InvalidUrl("the url has no host".to_owned()))?;
        self.inner.policy.check_host(host, deny_private)?;
        let (open, closed) = self.inner.clients.as_ref().map_err(|e| OutboundError::Setup(e.clone()))?;
        let client = if deny_private { closed } else { open };
        Ok(client.request(method, parsed))
    }

    /// Sends and reads the whole response, streamed: more than `max_response_bytes` is never held.
    /// `timeout` (the step's remaining budget) can only shorten the configured total timeout.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<OutboundResponse, OutboundError> {
        let limit = self.inner.limits.max_response_bytes;
        let request = request.timeout(timeout.min(self.inner.limits.request_timeout));
        let mut response = request.send().await.map_err(|e| classify(e, "request"))?;
        let status = response.status().as_u16();
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(OutboundError::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, "reading the response"))? {
            if body.len() + chunk.len() > limit {
                return Err(OutboundError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse { status, headers: response.headers().clone(), body })
    }
}

fn build_client(
    policy: Arc<EgressPolicy>,
    limits: OutboundLimits,
    deny_private: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    let redirect_policy = policy.clone();
    let max_redirects = limits.max_redirects;
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max_redirects {
            return attempt.error(format!("more than {max_redirects} redirects"));
        }
        let checked = match attempt.url().host_str() {
            Some(host) => redirect_policy.check_host(host, deny_private),
            None => Err(EgressDenied("redirect to a url without a host".to_owned())),
        };
        let scheme = attempt.url().scheme().to_owned();
        match checked {
            Ok(()) if matches!(scheme.as_str(), "http" | "https") => attempt.follow(),
            Ok(()) => attempt.error(EgressDenied(format!("redirect to scheme {scheme}"))),
            Err(denied) => attempt.error(EgressDenied(format!("redirect target {}", denied.0))),
        }
    });
    let builder = reqwest::Client::builder()
        .dns_resolver(Arc::new(PolicyResolver { policy, deny_private }))
        .connect_timeout(limits.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(redirect)
        .no_proxy();
    builder.build()
}

/// Maps a reqwest failure to its class; an egress refusal anywhere in the source chain (resolver,
/// redirect policy) wins.
fn classify(error: reqwest::Error, during: &str) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if let Some(denied) = current.downcast_ref::<EgressDenied>() {
            return OutboundError::Denied(denied.clone());
        }
        source = current.source();
    }
    if error.is_timeout() {
        return OutboundError::Timeout(format!("{during} timed out"));
    }
    // The URL may carry credentials in its query: report without it.
    OutboundError::Network(format!("{during} failed: {}", error.without_url()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_clients_build_on_aws_lc_rs() {
        let outbound = Outbound::default();
        assert!(outbound.check().is_ok());
        assert!(rustls::crypto::CryptoProvider::get_default().is_some(), "aws-lc-rs is installed as the default");
        assert!(outbound.request(reqwest::Method::GET, "https://example.com/x", true).is_ok());
    }

    #[test]
    fn urls_are_checked_before_sending() {
        let outbound = Outbound::default();
        let class = |url: &str, deny_private: bool| {
            outbound.request(reqwest::Method::GET, url, deny_private).err().map(|e| e.class())
        };
        assert_eq!(class("ftp://example.com/", false), Some(ErrorClass::Internal));
        assert_eq!(class("not a url", false), Some(ErrorClass::Internal));
        assert_eq!(class("http://169.254.169.254/", false), Some(ErrorClass::EgressDenied));
        assert_eq!(class("http://127.0.0.1:9/", true), Some(ErrorClass::EgressDenied));
        assert_eq!(class("http://127.0.0.1:9/", false), None);
    }
}
