//! Access tokens: HS256 JWTs (RFC 7519) signed with a key derived from the master key. Only HS256
//! is accepted on verification, so `alg: none` and algorithm-confusion tokens fail.

use auterity_types::{OrgId, SystemAccess, UserId};
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AuthError;

const ISSUER: &str = "auterity";

/// The claims of the seed's `UnifiedAuthToken`, plus `org` and `mfa_pending`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub iss: String,
    pub org: Uuid,
    pub systems: Vec<SystemAccess>,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_pending: bool,
}

impl Claims {
    pub fn user_id(&self) -> UserId {
        UserId(self.sub)
    }

    pub fn org_id(&self) -> OrgId {
        OrgId(self.org)
    }

    pub fn issued_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.iat, 0).single().unwrap_or_default()
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.exp, 0).single().unwrap_or_default()
    }
}

pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenSigner {
    pub fn new(key: &[u8; 32]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        validation.leeway = 5;
        validation.validate_aud = false;
        Self { encoding: EncodingKey::from_secret(key), decoding: DecodingKey::from_secret(key), validation }
    }

    pub fn issuer() -> &'static str {
        ISSUER
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("failed to sign token: {e}")))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims(exp_offset: i64) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            sub: Uuid::now_v7(),
            iat: now,
            exp: now + exp_offset,
            jti: Uuid::now_v7(),
            iss: ISSUER.into(),
            org: Uuid::now_v7(),
            systems: vec![],
            roles: vec!["member".into()],
            permissions: vec![],
            mfa_pending: false,
        }
    }

    #[test]
    fn round_trip() {
        let signer = TokenSigner::new(&[7; 32]);
        let c = claims(60);
        assert_eq!(signer.verify(&signer.sign(&c).unwrap()).unwrap(), c);
    }

    #[test]
    fn rejects_expired_foreign_and_unsigned_tokens() {
        let signer = TokenSigner::new(&[7; 32]);
        assert!(signer.verify(&signer.sign(&claims(-60)).unwrap()).is_err());
        let other = TokenSigner::new(&[8; 32]);
        assert!(signer.verify(&other.sign(&claims(60)).unwrap()).is_err());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(60)).unwrap());
        assert!(signer.verify(&format!("{header}.{body}.")).is_err());
        assert!(signer.verify("not-a-jwt").is_err());
    }
}
