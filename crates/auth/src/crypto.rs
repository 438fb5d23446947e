//! Encryption at rest with the master key (AES-256-GCM) and derivation of purpose-bound subkeys (HKDF).
//!
//! aws-lc-rs is the tree's only crypto provider; this module must not pull in another one.
//! Ciphertexts are `base64(nonce ‖ ciphertext ‖ tag)` with a random 96-bit nonce (NIST SP 800-38D
//! §8.2.2): keep one master key under 2^32 encryptions, far beyond provider API keys and MFA secrets.
//! The associated data should name what the value belongs to (e.g. `provider_key:<id>`), so a
//! ciphertext copied onto another row fails to decrypt.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret as _, SecretBox};

/// Key length for AES-256 and for HKDF-SHA256 subkeys.
pub const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Fixed, public HKDF salt (RFC 5869 §3.1: a salt need not be secret); versioned so derivations can
/// be rotated without a new master key.
const HKDF_SALT: &[u8] = b"auterity/hkdf-sha256/v1";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("invalid master key: {0}")]
    InvalidKey(&'static str),
    #[error("malformed ciphertext")]
    Malformed,
    #[error("encryption failed")]
    Encrypt,
    #[error("decryption failed: wrong key, wrong associated data or tampered ciphertext")]
    Decrypt,
}

/// The 256-bit master key. Held in a zeroize-on-drop box and never printed.
pub struct MasterKey {
    bytes: SecretBox<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        Self::from_bytes(self.bytes.expose_secret())
    }
}

impl MasterKey {
    fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self { bytes: SecretBox::init_with_mut(|slot: &mut [u8; KEY_LEN]| slot.copy_from_slice(bytes)) }
    }

    /// A fresh key from the OS generator.
    pub fn generate() -> Self {
        Self { bytes: SecretBox::init_with_mut(|slot: &mut [u8; KEY_LEN]| OsRng.fill_bytes(slot)) }
    }

    /// Parses standard base64 (RFC 4648 §4) of exactly 32 bytes; surrounding whitespace is ignored
    /// because keys usually arrive through environment variables and files.
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let decoded = SecretBox::new(
            STANDARD.decode(s.trim()).map_err(|_| CryptoError::InvalidKey("not valid base64"))?.into_boxed_slice(),
        );
        let bytes: &[u8; KEY_LEN] =
            decoded.expose_secret().as_ref().try_into().map_err(|_| CryptoError::InvalidKey("must be 32 bytes"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// Standard base64 with padding, the form [`MasterKey::from_base64`] reads.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes.expose_secret())
    }

    fn aead_key(&self) -> Result<LessSafeKey, CryptoError> {
        // Only fails for a wrong key length, which the type rules out; mapped rather than unwrapped.
        let unbound = UnboundKey::new(&AES_256_GCM, self.bytes.expose_secret()).map_err(|_| CryptoError::Encrypt)?;
        Ok(LessSafeKey::new(unbound))
    }

    /// AES-256-GCM with a random nonce; `aad` is authenticated but not stored, so decryption must
    /// present the same bytes.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, CryptoError> {
        let key = self.aead_key()?;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
            .map_err(|_| CryptoError::Encrypt)?;
        sealed.extend_from_slice(&in_out);
        Ok(STANDARD.encode(sealed))
    }

    /// Reverses [`MasterKey::encrypt`]. Every authentication failure reads the same, so the error
    /// cannot be used as an oracle.
    pub fn decrypt(&self, s: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sealed = STANDARD.decode(s.trim()).map_err(|_| CryptoError::Malformed)?;
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Malformed)?;
        let key = self.aead_key()?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = key.open_in_place(nonce, Aad::from(aad), &mut in_out).map_err(|_| CryptoError::Decrypt)?;
        Ok(plaintext.to_vec())
    }

    /// A 32-byte key for one `purpose` (e.g. `"jwt-signing"`), so no two uses share key material and
    /// the master key itself never leaves this type.
    ///
    /// HKDF-SHA256 (RFC 5869 §2) with L = 32, i.e. one expand block:
    /// PRK = HMAC(salt, master); OKM = T(1) = HMAC(PRK, purpose ‖ 0x01). Written with aws-lc-rs HMAC
    /// because its `hkdf` API is fallible for lengths this function cannot ask for; the tests check
    /// the output against RFC 5869 Appendix A and against `aws_lc_rs::hkdf`.
    pub fn derive_subkey(&self, purpose: &str) -> [u8; KEY_LEN] {
        hkdf_sha256_32(HKDF_SALT, self.bytes.expose_secret(), purpose.as_bytes())
    }

    /// [`MasterKey::derive_subkey`] as a key of its own, for a store that encrypts with a
    /// purpose-bound key (e.g. workflow secrets) rather than the master key itself.
    pub fn derive_key(&self, purpose: &str) -> MasterKey {
        Self::from_bytes(&self.derive_subkey(purpose))
    }
}

fn hkdf_sha256_32(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; KEY_LEN] {
    let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm);
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()));
    context.update(info);
    context.update(&[0x01]);
    let block = context.sign();
    let mut okm = [0u8; KEY_LEN];
    // SHA-256 tags are exactly KEY_LEN bytes.
    okm.copy_from_slice(block.as_ref());
    okm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = MasterKey::generate();
        for plaintext in [&b""[..], b"sk-provider-secret", &[0u8; 4096]] {
            let sealed = key.encrypt(plaintext, b"provider_key:1").unwrap();
            assert_eq!(key.decrypt(&sealed, b"provider_key:1").unwrap(), plaintext);
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let key = MasterKey::generate();
        assert_ne!(key.encrypt(b"same", b"").unwrap(), key.encrypt(b"same", b"").unwrap());
    }

    #[test]
    fn output_layout_is_nonce_ciphertext_tag() {
        let key = MasterKey::generate();
        let sealed = STANDARD.decode(key.encrypt(b"12345", b"").unwrap()).unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 5 + TAG_LEN);
    }

    #[test]
    fn tampering_is_detected() {
        let key = MasterKey::generate();
        let sealed = STANDARD.decode(key.encrypt(b"secret value", b"aad").unwrap()).unwrap();
        for index in [0, NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[index] ^= 0x01;
            assert!(matches!(key.decrypt(&STANDARD.encode(&tampered), b"aad"), Err(CryptoError::Decrypt)));
        }
        let truncated = STANDARD.encode(&sealed[..sealed.len() - 1]);
        assert!(matches!(key.decrypt(&truncated, b"aad"), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn wrong_aad_fails() {
        let key = MasterKey::generate();
        let sealed = key.encrypt(b"secret value", b"provider_key:1").unwrap();
        assert!(matches!(key.decrypt(&sealed, b"provider_key:2"), Err(CryptoError::Decrypt)));
        assert!(matches!(key.decrypt(&sealed, b""), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = MasterKey::generate().encrypt(b"secret value", b"").unwrap();
        assert!(matches!(MasterKey::generate().decrypt(&sealed, b""), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn malformed_ciphertext_is_rejected() {
        let key = MasterKey::generate();
        assert!(matches!(key.decrypt("not base64!", b""), Err(CryptoError::Malformed)));
        assert!(matches!(key.decrypt(&STANDARD.encode([0u8; 27]), b""), Err(CryptoError::Malformed)));
        assert!(matches!(key.decrypt("", b""), Err(CryptoError::Malformed)));
    }

    #[test]
    fn base64_round_trip_and_validation() {
        let key = MasterKey::generate();
        let encoded = key.to_base64();
        let parsed = MasterKey::from_base64(&format!(" {encoded}\n")).unwrap();
        assert_eq!(parsed.to_base64(), encoded);
        let sealed = key.encrypt(b"x", b"").unwrap();
        assert_eq!(parsed.decrypt(&sealed, b"").unwrap(), b"x");
        assert_eq!(key.clone().to_base64(), encoded);

        assert!(matches!(MasterKey::from_base64("%%%"), Err(CryptoError::InvalidKey(_))));
        assert!(matches!(MasterKey::from_base64(&STANDARD.encode([1u8; 31])), Err(CryptoError::InvalidKey(_))));
        assert!(matches!(MasterKey::from_base64(&STANDARD.encode([1u8; 33])), Err(CryptoError::InvalidKey(_))));
    }

    #[test]
    fn debug_is_redacted() {
        let key = MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let printed = format!("{key:?}");
        assert_eq!(printed, "MasterKey([redacted])");
    }

    #[test]
    fn hkdf_matches_rfc5869_test_case_1() {
        // RFC 5869 Appendix A.1; with L = 42 the first 32 bytes of OKM are T(1).
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf_sha256_32(&salt, &ikm, &info);
        assert_eq!(hex::encode(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
    }

    #[test]
    fn derive_subkey_matches_aws_lc_hkdf() {
        use aws_lc_rs::hkdf;
        let key = MasterKey::generate();
        let mut expected = [0u8; KEY_LEN];
        hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT)
            .extract(key.bytes.expose_secret())
            .expand(&[b"jwt-signing"], hkdf::HKDF_SHA256)
            .unwrap()
            .fill(&mut expected)
            .unwrap();
        assert_eq!(key.derive_subkey("jwt-signing"), expected);
    }

    #[test]
    fn subkeys_are_purpose_bound_and_stable() {
        let key = MasterKey::generate();
        assert_eq!(key.derive_subkey("jwt-signing"), key.derive_subkey("jwt-signing"));
        assert_ne!(key.derive_subkey("jwt-signing"), key.derive_subkey("csrf"));
        assert_ne!(key.derive_subkey("jwt-signing"), MasterKey::generate().derive_subkey("jwt-signing"));
        assert_ne!(&key.derive_subkey("jwt-signing"), key.bytes.expose_secret());
    }
}
