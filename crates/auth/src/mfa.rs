//! TOTP MFA (RFC 6238): enrolment, confirmation, disabling and recovery codes. The secret is kept
//! encrypted with the master key (AES-256-GCM, the user id as associated data).

use auterity_store::OrgScope;
use auterity_types::records::{Effects, User};
use chrono::Utc;
use serde_json::json;

use crate::dto::{RecoveryCodes, TotpCodeRequest, TotpEnrollment};
use crate::principal::Principal;
use crate::service::{AuthService, ClientContext};
use crate::{AuthError, totp};

const RECOVERY_CODE_COUNT: usize = 10;
const ISSUER: &str = "Auterity";

impl AuthService {
    pub(crate) fn decrypt_mfa_secret(&self, user: &User) -> Result<Option<Vec<u8>>, AuthError> {
        match &user.mfa_secret {
            Some(sealed) => Ok(Some(self.master_key.decrypt(sealed, user.id.0.as_bytes())?)),
            None => Ok(None),
        }
    }

    pub(crate) fn last_totp_step(&self, key: &str) -> Option<u64> {
        self.totp_steps.lock().ok().and_then(|steps| steps.get(key).copied())
    }

    pub(crate) fn remember_totp_step(&self, key: String, step: u64) {
        if let Ok(mut steps) = self.totp_steps.lock() {
            if steps.len() > 100_000 {
                steps.clear();
            }
            steps.insert(key, step);
        }
    }

    async fn caller_user(&self, caller: &Principal) -> Result<User, AuthError> {
        self.store.users.get_user(OrgScope(caller.org_id), caller.user_id).await?.ok_or(AuthError::NotFound("user"))
    }

    /// Starts (or restarts, while unconfirmed) enrolment: a new secret, not yet required at login.
    pub async fn totp_enroll(&self, caller: &Principal) -> Result<TotpEnrollment, AuthError> {
        let mut user = self.caller_user(caller).await?;
        if user.mfa_enabled {
            return Err(AuthError::Conflict("TOTP is already enabled; disable it first".into()));
        }
        let secret = totp::generate_secret();
        user.mfa_secret = Some(self.master_key.encrypt(&secret, user.id.0.as_bytes())?);
        user.updated_at = Utc::now();
        self.store.users.update_user(OrgScope(user.org_id), &user, &Effects::none()).await?;
        Ok(TotpEnrollment {
            secret: totp::secret_base32(&secret),
            otpauth_uri: totp::otpauth_uri(&secret, ISSUER, &user.email),
        })
    }

    /// Confirms enrolment with a current code; answers the recovery codes, shown this once.
    pub async fn totp_confirm(
        &self,
        caller: &Principal,
        request: TotpCodeRequest,
        ctx: &ClientContext,
    ) -> Result<RecoveryCodes, AuthError> {
        let mut user = self.caller_user(caller).await?;
        if user.mfa_enabled {
            return Err(AuthError::Conflict("TOTP is already enabled".into()));
        }
        let Some(secret) = self.decrypt_mfa_secret(&user)? else {
            return Err(AuthError::BadRequest("start enrolment first: POST /api/auth/mfa/totp/enroll".into()));
        };
        let key = format!("totp:{}", user.id);
        let now = Utc::now().timestamp().max(0) as u64;
        let Some(step) = totp::verify(&secret, request.code.trim(), now, self.last_totp_step(&key)) else {
            return Err(AuthError::field("/code", "code is wrong or expired"));
        };
        self.remember_totp_step(key, step);
        let codes = totp::generate_recovery_codes(RECOVERY_CODE_COUNT);
        user.recovery_code_hashes = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
        user.mfa_enabled = true;
        user.updated_at = Utc::now();
        // Sessions opened before MFA (including enrolment-only ones) end now.
        user.tokens_valid_after = Some(user.updated_at);
        let effects = Effects::none().audit(self.audit(
            Some(user.org_id),
            Some(user.id),
            "mfa.enabled",
            Some(user.id.to_string()),
            ctx,
            json!({"method": "totp"}),
        ));
        self.store.users.update_user(OrgScope(user.org_id), &user, &effects).await?;
        self.revocation.revoke_user_before(user.id.0, user.updated_at).await?;
        Ok(RecoveryCodes { recovery_codes: codes })
    }

    /// Turns MFA off after proving a current code (or a recovery code). Not allowed where the
    /// user's role requires MFA.
    pub async fn totp_disable(
        &self,
        caller: &Principal,
        request: TotpCodeRequest,
        ctx: &ClientContext,
    ) -> Result<(), AuthError> {
        let mut user = self.caller_user(caller).await?;
        if !user.mfa_enabled {
            return Err(AuthError::BadRequest("TOTP is not enabled".into()));
        }
        if self.mfa_required_for(&user) {
            return Err(AuthError::Forbidden("MFA is mandatory for your role".into()));
        }
        if !self.verify_code_or_recovery(&mut user, &request.code)? {
            return Err(AuthError::field("/code", "code is wrong or expired"));
        }
        user.mfa_enabled = false;
        user.mfa_secret = None;
        user.recovery_code_hashes.clear();
        user.updated_at = Utc::now();
        let effects = Effects::none().audit(self.audit(
            Some(user.org_id),
            Some(user.id),
            "mfa.disabled",
            Some(user.id.to_string()),
            ctx,
            json!({}),
        ));
        self.store.users.update_user(OrgScope(user.org_id), &user, &effects).await?;
        Ok(())
    }

    /// Replaces the recovery codes after proving a current TOTP code.
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Principal,
        request: TotpCodeRequest,
        ctx: &ClientContext,
    ) -> Result<RecoveryCodes, AuthError> {
        let mut user = self.caller_user(caller).await?;
        if !user.mfa_enabled {
            return Err(AuthError::BadRequest("TOTP is not enabled".into()));
        }
        if !self.verify_code_or_recovery(&mut user, &request.code)? {
            return Err(AuthError::field("/code", "code is wrong or expired"));
        }
        let codes = totp::generate_recovery_codes(RECOVERY_CODE_COUNT);
        user.recovery_code_hashes = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
        user.updated_at = Utc::now();
        let effects = Effects::none().audit(self.audit(
            Some(user.org_id),
            Some(user.id),
            "mfa.recovery_codes_regenerated",
            Some(user.id.to_string()),
            ctx,
            json!({}),
        ));
        self.store.users.update_user(OrgScope(user.org_id), &user, &effects).await?;
        Ok(RecoveryCodes { recovery_codes: codes })
    }

    fn verify_code_or_recovery(&self, user: &mut User, code: &str) -> Result<bool, AuthError> {
        let code = code.trim();
        let Some(secret) = self.decrypt_mfa_secret(user)? else {
            return Ok(false);
        };
        let key = format!("totp:{}", user.id);
        let now = Utc::now().timestamp().max(0) as u64;
        if let Some(step) = totp::verify(&secret, code, now, self.last_totp_step(&key)) {
            self.remember_totp_step(key, step);
            return Ok(true);
        }
        Ok(totp::consume_recovery_code(&mut user.recovery_code_hashes, code))
    }
}
