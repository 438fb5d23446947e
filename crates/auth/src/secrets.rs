//! Random tokens, hashing and constant-time comparison for bearer secrets: refresh tokens and API keys.
//!
//! Every secret here carries at least 256 bits from the operating system's generator, so a single
//! unsalted SHA-256 is the right storage hash: there is nothing to brute-force, and a fast hash keeps
//! the per-request lookup cheap (argon2 is for low-entropy, human-chosen passwords only).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use rand::RngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Bytes of randomness in a refresh token (256 bits).
pub const REFRESH_TOKEN_BYTES: usize = 32;

const API_KEY_TAG: &str = "aut_";
const API_KEY_PREFIX_LEN: usize = 12;
const API_KEY_SECRET_BYTES: usize = 32;
/// 32 bytes in unpadded base64 (RFC 4648 §5): ceil(32 * 8 / 6).
const API_KEY_SECRET_CHARS: usize = 43;
const API_KEY_LEN: usize = API_KEY_TAG.len() + API_KEY_PREFIX_LEN + 1 + API_KEY_SECRET_CHARS;
const PREFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `bytes` random bytes from the OS, URL-safe base64 without padding (RFC 4648 §5).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Lowercase hex SHA-256 of `s`.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Compares in time that depends only on the lengths, never on where the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A freshly minted API key. `key` is shown to the user once; only `prefix` and `secret_hash` are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedApiKey {
    /// Public lookup handle (12 lowercase alphanumerics), stored in clear and indexed.
    pub prefix: String,
    /// The full key `aut_<prefix>_<secret>`.
    pub key: String,
    /// `sha256_hex(key)`, what the store keeps.
    pub secret_hash: String,
}

impl std::fmt::Debug for GeneratedApiKey {
    // The full key must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedApiKey")
            .field("prefix", &self.prefix)
            .field("key", &"[redacted]")
            .field("secret_hash", &self.secret_hash)
            .finish()
    }
}

/// Mints `aut_<prefix>_<secret>`: a 12-character lowercase alphanumeric prefix (≈62 bits, only an
/// index key) and a 256-bit secret in base64url.
pub fn generate_api_key() -> GeneratedApiKey {
    let prefix: String = (0..API_KEY_PREFIX_LEN)
        .map(|_| char::from(PREFIX_ALPHABET[OsRng.gen_range(0..PREFIX_ALPHABET.len())]))
        .collect();
    let secret = random_token(API_KEY_SECRET_BYTES);
    let key = format!("{API_KEY_TAG}{prefix}_{secret}");
    let secret_hash = sha256_hex(&key);
    GeneratedApiKey { prefix, key, secret_hash }
}

/// Splits a well-formed API key into `(prefix, secret)`; `None` unless the whole string matches the
/// format exactly (tag, 12 `[a-z0-9]`, `_`, canonical unpadded base64url of 32 bytes).
pub fn parse_api_key(s: &str) -> Option<(&str, &str)> {
    if s.len() != API_KEY_LEN {
        return None;
    }
    let rest = s.strip_prefix(API_KEY_TAG)?;
    // Byte-indexing is safe: every accepted byte is ASCII, checked before the split points are used.
    if !rest.is_ascii() {
        return None;
    }
    let (prefix, rest) = rest.split_at(API_KEY_PREFIX_LEN);
    let secret = rest.strip_prefix('_')?;
    if !prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return None;
    }
    // The base64 engine rejects non-canonical trailing bits, so each key has exactly one spelling.
    match URL_SAFE_NO_PAD.decode(secret) {
        Ok(bytes) if bytes.len() == API_KEY_SECRET_BYTES => Some((prefix, secret)),
        _ => None,
    }
}

/// Whether `full_key` hashes to `stored_hash`, compared in constant time.
pub fn verify_api_key_secret(full_key: &str, stored_hash: &str) -> bool {
    // Malformed input cannot match a minted key; rejecting it early leaks nothing about the secret.
    if parse_api_key(full_key).is_none() {
        return false;
    }
    constant_time_eq(sha256_hex(full_key).as_bytes(), stored_hash.as_bytes())
}

/// Cheap routing test for a bearer credential: API keys start with `aut_`, JWTs with `eyJ`, so the
/// caller can pick the verification path and still report a malformed key as such.
pub fn looks_like_api_key(s: &str) -> bool {
    s.starts_with(API_KEY_TAG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_token_has_expected_length_and_alphabet() {
        let token = random_token(REFRESH_TOKEN_BYTES);
        assert_eq!(token.len(), 43);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(token, random_token(REFRESH_TOKEN_BYTES));
        assert_eq!(random_token(0), "");
    }

    #[test]
    fn sha256_hex_matches_known_vector() {
        // FIPS 180-2 Appendix B.1.
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn generated_api_key_round_trips() {
        let generated = generate_api_key();
        assert_eq!(generated.key.len(), API_KEY_LEN);
        assert!(looks_like_api_key(&generated.key));
        let (prefix, secret) = parse_api_key(&generated.key).expect("generated key parses");
        assert_eq!(prefix, generated.prefix);
        assert_eq!(secret.len(), API_KEY_SECRET_CHARS);
        assert!(verify_api_key_secret(&generated.key, &generated.secret_hash));
        assert_eq!(generated.secret_hash, sha256_hex(&generated.key));
        assert_ne!(generate_api_key().key, generated.key);
        assert!(!format!("{generated:?}").contains(secret));
    }

    #[test]
    fn verify_rejects_wrong_key_or_hash() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert!(!verify_api_key_secret(&a.key, &b.secret_hash));
        assert!(!verify_api_key_secret(&b.key, &a.secret_hash));
        assert!(!verify_api_key_secret(&a.key, ""));
        assert!(!verify_api_key_secret(&a.key, &a.secret_hash.to_uppercase()));
    }

    #[test]
    fn parse_is_strict() {
        let key = generate_api_key().key;
        let (_, secret) = parse_api_key(&key).expect("parses");
        let good_secret = secret.to_owned();
        let cases = [
            String::new(),
            "aut_".to_owned(),
            key[..key.len() - 1].to_owned(),
            format!("{key}A"),
            key.replacen("aut_", "AUT_", 1),
            format!("aut_ABCDEFGHIJKL_{good_secret}"),
            format!("aut_abcdefghijk-_{good_secret}"),
            format!("aut_abcdefghijkl-{good_secret}"),
            format!("aut_abcdefghijkl_{}", good_secret.replace(|c: char| c.is_ascii_alphanumeric(), "+")),
            // 43 chars whose last one carries non-zero padding bits: not the canonical encoding.
            format!("aut_abcdefghijkl_{}B", "A".repeat(42)),
            format!("aut_abcdéfghijk_{good_secret}"),
        ];
        for case in &cases {
            assert_eq!(parse_api_key(case), None, "{case:?} should be rejected");
        }
        let canonical = format!("aut_abcdefghij12_{}", "A".repeat(43));
        assert_eq!(parse_api_key(&canonical), Some(("abcdefghij12", "A".repeat(43).as_str())));
    }

    #[test]
    fn looks_like_api_key_only_checks_the_tag() {
        assert!(looks_like_api_key("aut_whatever"));
        assert!(!looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
        assert!(!looks_like_api_key(""));
    }
}
