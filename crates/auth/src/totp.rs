//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP) and single-use MFA recovery codes.
//!
//! Parameters are fixed to what every authenticator app supports: HMAC-SHA-1, 6 digits, 30-second
//! steps, T0 = 0. SHA-1 is acceptable here: HOTP relies only on HMAC's PRF property (RFC 4226 §A.2),
//! which collision attacks on SHA-1 do not touch.

use aws_lc_rs::hmac;
use rand::RngCore as _;
use rand::rngs::OsRng;

use crate::secrets::{constant_time_eq, sha256_hex};

/// Digits in a code (RFC 6238 §4 allows 6–8; apps assume 6).
pub const DIGITS: u32 = 6;
/// Time step X of RFC 6238 §4.1, in seconds.
pub const STEP_SECONDS: u64 = 30;
/// Secret length: RFC 4226 §4 requires ≥ 128 bits and recommends 160, the HMAC-SHA-1 output size.
pub const SECRET_BYTES: usize = 20;
/// Recovery code shape: 6 groups of 5 base32 characters, 150 bits.
const RECOVERY_GROUPS: usize = 6;
const RECOVERY_GROUP_LEN: usize = 5;

/// RFC 4648 §6 alphabet; it has no 0, 1 or 8, so codes read aloud or copied by hand stay unambiguous.
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A fresh 160-bit TOTP secret from the OS generator.
pub fn generate_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// Base32 (RFC 4648 §6) without padding, as the Key Uri Format expects for `secret=`.
pub fn secret_base32(secret: &[u8]) -> String {
    let mut out = String::with_capacity(secret.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    for &byte in secret {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(base32_char(buffer >> bits));
        }
        // Only the unconsumed low bits matter; masking keeps the shift from overflowing.
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(base32_char(buffer << (5 - bits)));
    }
    out
}

fn base32_char(value: u32) -> char {
    // The mask keeps the index in 0..32, so the lookup cannot go out of bounds.
    char::from(BASE32_ALPHABET[(value & 31) as usize])
}

/// `otpauth://totp/…` provisioning URI (Google Authenticator Key Uri Format), shown as a QR code.
///
/// Issuer and account are percent-encoded (RFC 3986 §2.1) with everything but unreserved characters
/// escaped, so a `:` inside either cannot be confused with the label separator. The issuer is repeated
/// as a parameter because newer apps read it from there.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
        secret = secret_base32(secret),
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The 6-digit code for the step containing `unix_time`.
pub fn code_at(secret: &[u8], unix_time: u64) -> String {
    hotp(secret, unix_time / STEP_SECONDS, DIGITS)
}

/// Checks `code` against the steps around `unix_time` and returns the matched step.
///
/// One step of skew either way absorbs clock drift and typing time (RFC 6238 §5.2 recommends at most
/// one). Steps at or before `last_used_step` are refused, so a code cannot be replayed (RFC 6238 §5.2:
/// the verifier must not accept the second attempt of the same OTP); the caller stores the returned
/// step as the new `last_used_step`. Whitespace inside the code is ignored (`123 456`).
pub fn verify(secret: &[u8], code: &str, unix_time: u64, last_used_step: Option<u64>) -> Option<u64> {
    verify_with_digits(secret, code, unix_time, last_used_step, DIGITS)
}

fn verify_with_digits(
    secret: &[u8],
    code: &str,
    unix_time: u64,
    last_used_step: Option<u64>,
    digits: u32,
) -> Option<u64> {
    if secret.is_empty() {
        return None;
    }
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = unix_time / STEP_SECONDS;
    let mut matched = None;
    // Every candidate is computed and compared, so timing does not reveal which step matched; the
    // ascending order makes a (1-in-a-million) double match return the later step.
    for step in current.saturating_sub(1)..=current.saturating_add(1) {
        if last_used_step.is_some_and(|last| step <= last) {
            continue;
        }
        if constant_time_eq(hotp(secret, step, digits).as_bytes(), code.as_bytes()) {
            matched = Some(step);
        }
    }
    matched
}

/// HOTP value for `counter` (RFC 4226 §5.3: HMAC-SHA-1, dynamic truncation, modulo 10^digits).
fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // A SHA-1 tag is 20 bytes and the offset is at most 15, so these indices are always in range.
    let offset = usize::from(mac[19] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    let code = u64::from(binary) % 10u64.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// `n` single-use recovery codes, each 30 base32 characters (150 bits from the OS) in dash-separated
/// groups of five, e.g. `ABCDE-FGHIJ-KLMNO-PQRST-UVWXY-Z2345`.
pub fn generate_recovery_codes(n: usize) -> Vec<String> {
    (0..n).map(|_| generate_recovery_code()).collect()
}

fn generate_recovery_code() -> String {
    let mut raw = [0u8; RECOVERY_GROUPS * RECOVERY_GROUP_LEN];
    OsRng.fill_bytes(&mut raw);
    // 256 is a multiple of 32, so keeping the low five bits of a uniform byte gives a uniform character.
    let chars: Vec<char> = raw.iter().map(|&b| base32_char(u32::from(b))).collect();
    chars.chunks(RECOVERY_GROUP_LEN).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// What a recovery code is compared as: uppercase, without dashes or whitespace, so users may type
/// it in any case and grouping.
fn normalise_recovery_code(code: &str) -> String {
    code.chars().filter(|c| *c != '-' && !c.is_whitespace()).flat_map(char::to_uppercase).collect()
}

/// SHA-256 hex of the normalised code; the store keeps only this. Unsalted is fine: each code has
/// 150 random bits, far beyond any dictionary.
pub fn hash_recovery_code(code: &str) -> String {
    sha256_hex(&normalise_recovery_code(code))
}

/// If `code` matches one of `hashes`, removes that hash (codes are single-use) and returns `true`.
pub fn consume_recovery_code(hashes: &mut Vec<String>, code: &str) -> bool {
    if normalise_recovery_code(code).is_empty() {
        return false;
    }
    let candidate = hash_recovery_code(code);
    let mut found = None;
    // Compare against every entry rather than stopping at the first hit.
    for (index, stored) in hashes.iter().enumerate() {
        if constant_time_eq(stored.as_bytes(), candidate.as_bytes()) && found.is_none() {
            found = Some(index);
        }
    }
    match found {
        Some(index) => {
            hashes.remove(index);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d_hotp_values() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64, 6), *code, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, code) in vectors {
            assert_eq!(hotp(RFC_SECRET, time / STEP_SECONDS, 8), code, "time {time}");
            assert_eq!(verify_with_digits(RFC_SECRET, code, time, None, 8), Some(time / STEP_SECONDS));
            // The 6-digit code is the low six digits of the same truncated value.
            assert_eq!(code_at(RFC_SECRET, time), code[2..]);
        }
    }

    #[test]
    fn base32_matches_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (input, output) in vectors {
            assert_eq!(secret_base32(input.as_bytes()), output);
        }
        assert_eq!(secret_base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn generated_secret_is_random_and_sized() {
        let secret = generate_secret();
        assert_eq!(secret.len(), SECRET_BYTES);
        assert_ne!(secret, generate_secret());
        assert_eq!(secret_base32(&secret).len(), 32);
    }

    #[test]
    fn otpauth_uri_is_percent_encoded() {
        let uri = otpauth_uri(RFC_SECRET, "ACME Co", "john.doe@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/ACME%20Co:john.doe%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let tricky = otpauth_uri(RFC_SECRET, "a:b&c", "ü/?#");
        assert!(tricky.starts_with("otpauth://totp/a%3Ab%26c:%C3%BC%2F%3F%23?secret="));
    }

    #[test]
    fn verify_accepts_one_step_of_skew() {
        let now = 1_700_000_000;
        let step = now / STEP_SECONDS;
        let code = code_at(RFC_SECRET, now);
        assert_eq!(verify(RFC_SECRET, &code, now, None), Some(step));
        assert_eq!(verify(RFC_SECRET, &code, now + STEP_SECONDS, None), Some(step));
        assert_eq!(verify(RFC_SECRET, &code, now - STEP_SECONDS, None), Some(step));
        assert_eq!(verify(RFC_SECRET, &code, now + 2 * STEP_SECONDS, None), None);
        assert_eq!(verify(RFC_SECRET, &code, now - 2 * STEP_SECONDS, None), None);
    }

    #[test]
    fn verify_rejects_replay_and_older_steps() {
        let now = 1_700_000_000;
        let step = now / STEP_SECONDS;
        let code = code_at(RFC_SECRET, now);
        let used = verify(RFC_SECRET, &code, now, None);
        assert_eq!(used, Some(step));
        assert_eq!(verify(RFC_SECRET, &code, now, used), None);
        assert_eq!(verify(RFC_SECRET, &code, now, Some(step + 1)), None);
        let next = code_at(RFC_SECRET, now + STEP_SECONDS);
        assert_eq!(verify(RFC_SECRET, &next, now, used), Some(step + 1));
    }

    #[test]
    fn verify_rejects_malformed_codes() {
        let now = 1_700_000_000;
        let code = code_at(RFC_SECRET, now);
        assert_eq!(verify(RFC_SECRET, &format!("{} {}", &code[..3], &code[3..]), now, None), Some(now / 30));
        assert_eq!(verify(RFC_SECRET, &code[..5], now, None), None);
        assert_eq!(verify(RFC_SECRET, &format!("{code}0"), now, None), None);
        assert_eq!(verify(RFC_SECRET, "abcdef", now, None), None);
        assert_eq!(verify(RFC_SECRET, "", now, None), None);
        assert_eq!(verify(&[], &code, now, None), None);
        assert_eq!(verify(b"another secret", &code, now, None), None);
    }

    #[test]
    fn verify_near_the_epoch_does_not_underflow() {
        let code = code_at(RFC_SECRET, 0);
        assert_eq!(verify(RFC_SECRET, &code, 0, None), Some(0));
        assert_eq!(verify(RFC_SECRET, &code, 0, Some(0)), None);
    }

    #[test]
    fn recovery_codes_are_well_formed_and_distinct() {
        let codes = generate_recovery_codes(10);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), RECOVERY_GROUPS);
            assert!(groups.iter().all(|g| g.len() == RECOVERY_GROUP_LEN));
            assert!(groups.concat().bytes().all(|b| BASE32_ALPHABET.contains(&b)));
        }
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len());
        assert!(generate_recovery_codes(0).is_empty());
    }

    #[test]
    fn recovery_code_hash_is_normalised() {
        let code = "ABCDE-FGHIJ-KLMNO-PQRST-UVWXY-Z2345";
        let hash = hash_recovery_code(code);
        assert_eq!(hash, sha256_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZ2345"));
        assert_eq!(hash_recovery_code("abcde fghij klmno pqrst uvwxy z2345"), hash);
        assert_eq!(hash_recovery_code("abcdefghijklmnopqrstuvwxyz2345"), hash);
    }

    #[test]
    fn recovery_codes_are_single_use() {
        let codes = generate_recovery_codes(3);
        let mut hashes: Vec<String> = codes.iter().map(|c| hash_recovery_code(c)).collect();
        assert!(!consume_recovery_code(&mut hashes, "not-a-code"));
        assert!(!consume_recovery_code(&mut hashes, " - "));
        assert_eq!(hashes.len(), 3);
        assert!(consume_recovery_code(&mut hashes, &codes[1].to_lowercase()));
        assert_eq!(hashes.len(), 2);
        assert!(!consume_recovery_code(&mut hashes, &codes[1]));
        assert!(consume_recovery_code(&mut hashes, &codes[0]));
        assert!(consume_recovery_code(&mut hashes, &codes[2].replace('-', "")));
        assert!(hashes.is_empty());
    }
}
