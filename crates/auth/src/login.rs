//! Sessions: login (password, then TOTP or a recovery code), refresh-token rotation with reuse
//! detection, logout, self sign-up and password change.

use auterity_store::OrgScope;
use auterity_types::event::types as event_types;
use auterity_types::records::{Effects, RefreshToken, User};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::dto::{ChangePasswordRequest, LoginRequest, LogoutRequest, RefreshRequest, TokenResponse};
use crate::principal::{Credential, Principal};
use crate::service::{AuthService, ClientContext};
use crate::{AuthError, password, secrets, totp};

impl AuthService {
    pub async fn login(&self, request: LoginRequest, ctx: &ClientContext) -> Result<TokenResponse, AuthError> {
        let login = match (&request.email, &request.username) {
            (Some(email), _) if !email.trim().is_empty() => email.trim().to_lowercase(),
            (_, Some(username)) if !username.trim().is_empty() => username.trim().to_lowercase(),
            _ => return Err(AuthError::field("/email", "email or username is required")),
        };
        if request.password.chars().count() > self.settings.policy.max_len * 4 {
            return Err(AuthError::InvalidCredentials);
        }
        let account_key = format!("acct:{login}");
        let ip_key = ctx.ip.map(|ip| format!("ip:{ip}"));
        if let Some(retry_after) = self.throttles.account.check(&account_key).await? {
            return Err(AuthError::Throttled { retry_after });
        }
        if let Some(key) = &ip_key
            && let Some(retry_after) = self.throttles.ip.check(key).await?
        {
            return Err(AuthError::Throttled { retry_after });
        }

        let user_opt = self.store.users.find_user_by_login(&login).await?;
        let password_ok = match &user_opt {
            Some(user) => self.verify_password_bounded(request.password.clone(), user.password_hash.clone()).await,
            None => {
                let params = self.settings.password_params;
                let _permit = self.hash_permits.acquire().await;
                let _ = tokio::task::spawn_blocking(move || password::dummy_verify(&params)).await;
                false
            }
        };
        let user = match user_opt {
            Some(user) if password_ok && user.is_active => user,
            other => {
                let reason = match &other {
                    None => "unknown_user",
                    Some(user) if !user.is_active => "disabled",
                    Some(_) => "wrong_password",
                };
                return Err(self
                    .login_failed(&login, other.as_ref(), reason, &account_key, ip_key.as_deref(), ctx)
                    .await);
            }
        };

        let mut user = user;
        if user.mfa_enabled {
            let Some(code) = request.totp.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
                return Err(AuthError::MfaRequired);
            };
            if !self.check_second_factor(&mut user, code).await? {
                return Err(self
                    .login_failed(&login, Some(&user), "wrong_totp", &account_key, ip_key.as_deref(), ctx)
                    .await);
            }
        }
        self.throttles.account.record_success(&account_key).await?;
        let mfa_pending = !user.mfa_enabled && self.mfa_required_for(&user);
        let effects = Effects::none().audit(self.audit(
            Some(user.org_id),
            Some(user.id),
            "login",
            Some(user.id.to_string()),
            ctx,
            json!({"mfa": user.mfa_enabled, "mfa_enrollment_required": mfa_pending}),
        ));
        self.record(effects).await?;
        self.issue_session(&user, Uuid::now_v7(), mfa_pending).await
    }

    /// Checks a TOTP code (rejecting a replayed step) or consumes a recovery code.
    async fn check_second_factor(&self, user: &mut User, code: &str) -> Result<bool, AuthError> {
        let Some(secret) = self.decrypt_mfa_secret(user)? else {
            return Ok(false);
        };
        let now = Utc::now().timestamp().max(0) as u64;
        let replay_key = format!("totp:{}", user.id);
        let last_step = self.last_totp_step(&replay_key);
        if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
            return Ok(match totp::verify(&secret, code, now, last_step) {
                Some(step) => {
                    self.remember_totp_step(replay_key, step);
                    true
                }
                None => false,
            });
        }
        if totp::consume_recovery_code(&mut user.recovery_code_hashes, code) {
            user.updated_at = Utc::now();
            self.store.users.update_user(OrgScope(user.org_id), user, &Effects::none()).await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn login_failed(
        &self,
        login: &str,
        user: Option<&User>,
        reason: &str,
        account_key: &str,
        ip_key: Option<&str>,
        ctx: &ClientContext,
    ) -> AuthError {
        metrics::counter!("auth_failures_total", "reason" => "login_failed").increment(1);
        let mut outcome = self.throttles.account.record_failure(account_key).await;
        if let Some(key) = ip_key {
            outcome = outcome.and(self.throttles.ip.record_failure(key).await);
        }
        if let Err(error) = outcome {
            tracing::warn!(%error, "failed to record a login failure");
        }
        let org = user.map(|u| u.org_id);
        let details = json!({"login": login, "reason": reason, "user_agent": ctx.user_agent});
        let effects = Effects::none()
            .audit(self.audit(org, user.map(|u| u.id), "login_failed", user.map(|u| u.id.to_string()), ctx, details))
            .event(self.event(
                event_types::AUTHENTICATION_FAILED,
                org,
                json!({"login": login, "reason": reason, "ip": ctx.ip.map(|ip| ip.to_string())}),
            ));
        if let Err(error) = self.record(effects).await {
            tracing::warn!(%error, "failed to record a login failure");
        }
        AuthError::InvalidCredentials
    }

    pub(crate) fn mfa_required_for(&self, user: &User) -> bool {
        user.roles.iter().any(|role| self.settings.mfa_required_roles.iter().any(|required| required == role))
    }

    /// Issues an access token and a new refresh token in `family`.
    async fn issue_session(&self, user: &User, family_id: Uuid, mfa_pending: bool) -> Result<TokenResponse, AuthError> {
        let (access_token, _) = self.issue_access_token(user, mfa_pending).await?;
        let (refresh_token, record) = self.new_refresh_token(user, family_id);
        self.store.tokens.insert_refresh_token(&record).await?;
        Ok(self.token_response(access_token, refresh_token, mfa_pending))
    }

    fn new_refresh_token(&self, user: &User, family_id: Uuid) -> (String, RefreshToken) {
        let secret = secrets::random_token(32);
        let now = Utc::now();
        let record = RefreshToken {
            id: Uuid::now_v7(),
            user_id: user.id,
            org_id: user.org_id,
            family_id,
            token_hash: secrets::sha256_hex(&secret),
            created_at: now,
            expires_at: now + chrono::Duration::seconds(self.settings.refresh_ttl.as_secs() as i64),
            used_at: None,
            revoked_at: None,
        };
        (secret, record)
    }

    fn token_response(&self, access_token: String, refresh_token: String, mfa_pending: bool) -> TokenResponse {
        TokenResponse {
            access_token,
            refresh_token,
            token_type: "Bearer".to_owned(),
            expires_in: self.settings.access_ttl.as_secs(),
            mfa_enrollment_required: mfa_pending,
        }
    }

    /// Rotates a refresh token. Presenting a spent one is treated as theft: the family is revoked.
    pub async fn refresh(&self, request: RefreshRequest, ctx: &ClientContext) -> Result<TokenResponse, AuthError> {
        let hash = secrets::sha256_hex(request.refresh_token.trim());
        let Some(stored) = self.store.tokens.find_refresh_token(&hash).await? else {
            metrics::counter!("auth_failures_total", "reason" => "invalid_refresh_token").increment(1);
            return Err(AuthError::InvalidToken);
        };
        let now = Utc::now();
        if stored.used_at.is_some() || stored.revoked_at.is_some() {
            return Err(self.refresh_reused(&stored, ctx).await);
        }
        if stored.expires_at <= now {
            return Err(AuthError::InvalidToken);
        }
        let scope = OrgScope(stored.org_id);
        let Some(user) = self.store.users.get_user(scope, stored.user_id).await?.filter(|u| u.is_active) else {
            return Err(AuthError::Revoked);
        };
        let mfa_pending = !user.mfa_enabled && self.mfa_required_for(&user);
        let (refresh_token, record) = self.new_refresh_token(&user, stored.family_id);
        if !self.store.tokens.rotate_refresh_token(stored.id, now, &record).await? {
            // Lost a race with another use of the same token: that is reuse too.
            return Err(self.refresh_reused(&stored, ctx).await);
        }
        let (access_token, _) = self.issue_access_token(&user, mfa_pending).await?;
        Ok(self.token_response(access_token, refresh_token, mfa_pending))
    }

    async fn refresh_reused(&self, stored: &RefreshToken, ctx: &ClientContext) -> AuthError {
        metrics::counter!("auth_failures_total", "reason" => "refresh_token_reuse").increment(1);
        if let Err(error) = self.store.tokens.revoke_family(stored.family_id, Utc::now()).await {
            tracing::error!(%error, "failed to revoke a refresh-token family after reuse");
        }
        let effects = Effects::none()
            .audit(self.audit(
                Some(stored.org_id),
                Some(stored.user_id),
                "refresh_token_reused",
                Some(stored.family_id.to_string()),
                ctx,
                json!({"family_id": stored.family_id}),
            ))
            .event(self.event(
                event_types::AUTHENTICATION_FAILED,
                Some(stored.org_id),
                json!({"reason": "refresh_token_reuse", "user_id": stored.user_id, "family_id": stored.family_id}),
            ));
        if let Err(error) = self.record(effects).await {
            tracing::warn!(%error, "failed to record refresh-token reuse");
        }
        AuthError::Revoked
    }

    /// Revokes the presented access token, and optionally a refresh family or every session.
    pub async fn logout(
        &self,
        caller: &Principal,
        request: LogoutRequest,
        ctx: &ClientContext,
    ) -> Result<(), AuthError> {
        let now = Utc::now();
        if let Credential::AccessToken { jti, expires_at } = &caller.credential {
            self.store.tokens.revoke_jti(*jti, caller.user_id, *expires_at).await?;
            self.revocation.revoke_jti(*jti, *expires_at).await?;
        }
        if let Some(refresh) = request.refresh_token {
            let hash = secrets::sha256_hex(refresh.trim());
            if let Some(stored) = self.store.tokens.find_refresh_token(&hash).await?
                && stored.user_id == caller.user_id
            {
                self.store.tokens.revoke_family(stored.family_id, now).await?;
            }
        }
        if request.all_sessions {
            self.cut_off_user_tokens(caller.user_id, now).await?;
        }
        let effects = Effects::none().audit(self.audit(
            Some(caller.org_id),
            caller.actor(),
            "logout",
            Some(caller.user_id.to_string()),
            ctx,
            json!({"all_sessions": request.all_sessions}),
        ));
        self.record(effects).await
    }

    pub async fn change_password(
        &self,
        caller: &Principal,
        request: ChangePasswordRequest,
        ctx: &ClientContext,
    ) -> Result<(), AuthError> {
        let scope = OrgScope(caller.org_id);
        let mut user = self.store.users.get_user(scope, caller.user_id).await?.ok_or(AuthError::NotFound("user"))?;
        if !self.verify_password_bounded(request.current_password.clone(), user.password_hash.clone()).await {
            return Err(AuthError::field("/current_password", "current password is wrong"));
        }
        self.check_password_policy(&request.new_password, &user.username, &user.email, "/new_password")?;
        let now = Utc::now();
        user.password_hash = self.hash(&request.new_password).await?;
        user.updated_at = now;
        user.tokens_valid_after = Some(now);
        let effects = Effects::none().audit(self.audit(
            Some(user.org_id),
            Some(user.id),
            "password_changed",
            Some(user.id.to_string()),
            ctx,
            json!({}),
        ));
        self.store.users.update_user(scope, &user, &effects).await?;
        // Every other session ends; the caller signs in again with the new password.
        self.cut_off_user_tokens(user.id, now).await
    }

    pub(crate) fn check_password_policy(
        &self,
        candidate: &str,
        username: &str,
        email: &str,
        pointer: &str,
    ) -> Result<(), AuthError> {
        self.settings.policy.check(candidate, username, email).map_err(|violations| {
            AuthError::Validation(
                violations.into_iter().map(|v| auterity_types::error::FieldError::new(pointer, v)).collect(),
            )
        })
    }

    /// argon2id takes tens of milliseconds of CPU: it runs on the blocking pool, never on a
    /// runtime worker, so other requests keep flowing.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let params = self.settings.password_params;
        let password = password.to_owned();
        let _permit = self.hash_permits.acquire().await;
        tokio::task::spawn_blocking(move || password::hash_password(&password, &params))
            .await
            .map_err(|e| AuthError::Internal(format!("password hashing task failed: {e}")))?
            .map_err(|e| AuthError::Internal(format!("failed to hash password: {e}")))
    }
}

impl AuthService {
    /// Verifies a password on the blocking pool, at most one per core at a time (see `hash`).
    async fn verify_password_bounded(&self, password: String, hash: String) -> bool {
        let _permit = self.hash_permits.acquire().await;
        tokio::task::spawn_blocking(move || password::verify_password(&password, &hash)).await.unwrap_or(false)
    }
}
