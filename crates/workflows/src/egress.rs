//! The egress policy: which hosts and addresses outbound calls made for workflows may reach.
//!
//! Checked twice per call: on the URL host (names and literal IPs) before sending, and on every
//! address the name resolves to, at connection time (see `outbound`), so DNS rebinding and
//! redirects cannot route around it. Cloud metadata endpoints are denied whatever the
//! configuration says: they hand out credentials to anyone who can reach them.

use auterity_config::EgressConfig;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a call was refused. The message names the host or address, never a path or query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("egress denied: {0}")]
pub struct EgressDenied(pub String);

/// Host names of metadata services that must never be called.
const METADATA_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata.goog", "metadata"];

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com` (not `example.com` itself).
    Suffix(String),
}

impl HostPattern {
    fn parse(pattern: &str) -> Self {
        let lower = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
        match lower.strip_prefix("*.") {
            Some(rest) => HostPattern::Suffix(format!(".{rest}")),
            None => HostPattern::Exact(lower.trim_matches(['[', ']']).to_owned()),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(exact) => exact == host,
            HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
        }
    }
}

/// The configured policy; the per-organization choice about private ranges is passed per call.
#[derive(Clone, Debug, Default)]
pub struct EgressPolicy {
    allowed_hosts: Vec<HostPattern>,
    denied_hosts: Vec<HostPattern>,
    allowed_cidrs: Vec<IpNet>,
    denied_cidrs: Vec<IpNet>,
}

impl EgressPolicy {
    pub fn from_config(config: &EgressConfig) -> Self {
        Self {
            allowed_hosts: config.allowed_hosts.iter().map(|h| HostPattern::parse(h)).collect(),
            denied_hosts: config.denied_hosts.iter().map(|h| HostPattern::parse(h)).collect(),
            allowed_cidrs: config.allowed_cidrs.clone(),
            denied_cidrs: config.denied_cidrs.clone(),
        }
    }

    /// Checks a URL host as written (a name or a literal IP), before anything is resolved.
    pub fn check_host(&self, host: &str, deny_private: bool) -> Result<(), EgressDenied> {
        let host = host.trim_matches(['[', ']']).trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return Err(EgressDenied("the url has no host".to_owned()));
        }
        if METADATA_HOSTS.contains(&host.as_str()) {
            return Err(EgressDenied(format!("{host} is a cloud metadata endpoint")));
        }
        if self.denied_hosts.iter().any(|p| p.matches(&host)) {
            return Err(EgressDenied(format!("{host} is in egress.denied_hosts")));
        }
        if !self.allowed_hosts.is_empty() && !self.allowed_hosts.iter().any(|p| p.matches(&host)) {
            return Err(EgressDenied(format!("{host} is not in egress.allowed_hosts")));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.check_ip(ip, deny_private)?;
        }
        Ok(())
    }

    /// Checks an address about to be connected to.
    pub fn check_ip(&self, ip: IpAddr, deny_private: bool) -> Result<(), EgressDenied> {
        let ip = ip.to_canonical();
        if is_always_denied(ip) {
            return Err(EgressDenied(format!("{ip} is a link-local or cloud metadata address")));
        }
        if self.denied_cidrs.iter().any(|net| net.contains(&ip)) {
            return Err(EgressDenied(format!("{ip} is in egress.denied_cidrs")));
        }
        if deny_private && is_private(ip) && !self.allowed_cidrs.iter().any(|net| net.contains(&ip)) {
            return Err(EgressDenied(format!("{ip} is a private address and this organization denies private ranges")));
        }
        Ok(())
    }
}

/// Addresses no workflow may reach, whatever the configuration: link-local (169.254.0.0/16 holds
/// the AWS/GCP/Azure metadata endpoint 169.254.169.254), Alibaba's 100.100.100.200, AWS's IPv6
/// fd00:ec2::254, IPv6 link-local fe80::/10, and the unspecified and broadcast addresses.
pub fn is_always_denied(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() || v4 == Ipv4Addr::new(100, 100, 100, 200)
        }
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.is_unspecified()
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

/// Loopback, RFC 1918, CGNAT (RFC 6598), "this network" (0.0.0.0/8), benchmarking (198.18.0.0/15),
/// IPv6 unique-local (fc00::/7) and loopback.
pub fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
        }
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(adjust: impl FnOnce(&mut EgressConfig)) -> EgressPolicy {
        let mut config = EgressConfig::default();
        adjust(&mut config);
        EgressPolicy::from_config(&config)
    }

    #[test]
    fn metadata_is_denied_even_when_allowed() {
        let open = policy(|c| {
            c.allowed_cidrs = vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
            c.allowed_hosts = vec!["169.254.169.254".into(), "metadata.google.internal".into()];
        });
        for ip in ["169.254.169.254", "fd00:ec2::254", "fe80::1", "100.100.100.200", "::ffff:169.254.169.254"] {
            assert!(open.check_ip(ip.parse().unwrap(), false).is_err(), "{ip}");
            assert!(open.check_ip(ip.parse().unwrap(), true).is_err(), "{ip}");
        }
        assert!(open.check_host("169.254.169.254", false).is_err());
        assert!(open.check_host("[fd00:ec2::254]", false).is_err());
        assert!(open.check_host("METADATA.google.internal.", false).is_err());
    }

    #[test]
    fn private_ranges_follow_the_organization_choice() {
        let default = policy(|_| {});
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.4", "100.64.0.1", "::1", "fd12::1"] {
            assert!(default.check_ip(ip.parse().unwrap(), false).is_ok(), "{ip}");
            assert!(default.check_ip(ip.parse().unwrap(), true).is_err(), "{ip}");
        }
        assert!(default.check_ip("93.184.216.34".parse().unwrap(), true).is_ok());
        assert!(default.check_ip("2606:4700::1".parse().unwrap(), true).is_ok());
        let exempt = policy(|c| c.allowed_cidrs = vec!["10.1.0.0/16".parse().unwrap()]);
        assert!(exempt.check_ip("10.1.2.3".parse().unwrap(), true).is_ok());
        assert!(exempt.check_ip("10.2.0.1".parse().unwrap(), true).is_err());
    }

    #[test]
    fn host_lists_use_exact_names_and_suffixes() {
        let lists = policy(|c| {
            c.allowed_hosts = vec!["*.example.com".into(), "api.partner.io".into(), "127.0.0.1".into()];
            c.denied_hosts = vec!["bad.example.com".into()];
            c.denied_cidrs = vec!["203.0.113.0/24".parse().unwrap()];
        });
        assert!(lists.check_host("a.example.com", true).is_ok());
        assert!(lists.check_host("A.Example.COM", true).is_ok());
        assert!(lists.check_host("example.com", true).is_err(), "a suffix pattern does not match the bare domain");
        assert!(lists.check_host("bad.example.com", true).is_err());
        assert!(lists.check_host("api.partner.io", true).is_ok());
        assert!(lists.check_host("evil-api.partner.io", true).is_err());
        assert!(lists.check_host("127.0.0.1", false).is_ok());
        assert!(lists.check_host("127.0.0.1", true).is_err(), "a listed literal IP is still checked as an address");
        assert!(lists.check_ip("203.0.113.9".parse().unwrap(), false).is_err());
    }
}
