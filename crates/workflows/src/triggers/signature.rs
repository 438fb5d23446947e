//! Webhook signatures: `X-Auterity-Signature: t=<unix seconds>,v1=<hex>` where `v1` is
//! HMAC-SHA256 (RFC 2104) under the trigger's secret over `"{t}.{body}"`. Binding the timestamp
//! into the MAC lets the receiver refuse old requests (the replay window); the (hook, signature)
//! receipt refuses the same request twice inside it. Comparison is constant-time.

use aws_lc_rs::hmac;

pub const SIGNATURE_HEADER: &str = "x-auterity-signature";

/// Why a request is not accepted. All map to 401 except none; kept apart for logs and tests.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing X-Auterity-Signature header")]
    Missing,
    #[error("malformed X-Auterity-Signature header: expected t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("signature timestamp is outside the replay window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// The parsed header: the timestamp and every `v1` candidate (several during a sender's rotation).
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    pub signatures: Vec<Vec<u8>>,
}

impl SignatureHeader {
    pub fn parse(header: Option<&str>) -> Result<Self, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            let (name, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
            match name {
                "t" => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
                "v1" => {
                    let bytes = hex::decode(value).map_err(|_| SignatureError::Malformed)?;
                    if bytes.len() != 32 {
                        return Err(SignatureError::Malformed);
                    }
                    signatures.push(bytes);
                }
                _ => {} // other schemes are ignored, as future versions may add them
            }
        }
        match timestamp {
            Some(timestamp) if !signatures.is_empty() && signatures.len() <= 4 => Ok(Self { timestamp, signatures }),
            _ => Err(SignatureError::Malformed),
        }
    }

    /// Checks the timestamp against `now` (± `window_secs`) and one signature against the body.
    /// Returns the matching signature's hex (the replay receipt).
    pub fn verify(&self, secret: &[u8], body: &[u8], now: i64, window_secs: i64) -> Result<String, SignatureError> {
        if (now - self.timestamp).abs() > window_secs {
            return Err(SignatureError::Stale);
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let message = signed_payload(self.timestamp, body);
        self.signatures
            .iter()
            .find(|candidate| hmac::verify(&key, &message, candidate).is_ok())
            .map(hex::encode)
            .ok_or(SignatureError::Mismatch)
    }
}

fn signed_payload(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(body.len() + 21);
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    message
}

/// The header value a sender puts on a request (used by tests, the benchmark and docs).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &signed_payload(timestamp, body));
    format!("t={timestamp},v1={}", hex::encode(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_once_parsed() {
        let header = sign(b"secret", 1_700_000_000, b"{\"a\":1}");
        let parsed = SignatureHeader::parse(Some(&header)).unwrap();
        assert_eq!(parsed.timestamp, 1_700_000_000);
        assert!(parsed.verify(b"secret", b"{\"a\":1}", 1_700_000_010, 300).is_ok());
    }

    #[test]
    fn wrong_secret_body_or_time_is_refused() {
        let header = sign(b"secret", 1_700_000_000, b"body");
        let parsed = SignatureHeader::parse(Some(&header)).unwrap();
        assert_eq!(parsed.verify(b"other", b"body", 1_700_000_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(parsed.verify(b"secret", b"bodz", 1_700_000_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(parsed.verify(b"secret", b"body", 1_700_000_301, 300), Err(SignatureError::Stale));
        assert_eq!(parsed.verify(b"secret", b"body", 1_699_999_699, 300), Err(SignatureError::Stale));
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert_eq!(SignatureHeader::parse(None), Err(SignatureError::Missing));
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "t=1,v1=0011", "garbage"] {
            assert_eq!(SignatureHeader::parse(Some(bad)), Err(SignatureError::Malformed), "{bad}");
        }
    }
}
