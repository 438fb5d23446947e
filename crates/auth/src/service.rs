//! `AuthService`: the domain layer of identity — it creates ids and timestamps, enforces policy,
//! and calls the store. Handlers call exactly one of its methods.

use auterity_events::Events;
use auterity_store::{OrgScope, Store};
use auterity_types::records::{AuditEntry, Effects, User};
use auterity_types::{OrgId, SystemAccess, SystemEvent, UserId};
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::AuthError;
use crate::crypto::MasterKey;
use crate::password::{PasswordParams, PasswordPolicy};
use crate::principal::{Credential, Principal, permissions_for};
use crate::revocation::RevocationCache;
use crate::secrets;
use crate::throttle::LoginThrottle;
use crate::tokens::{Claims, TokenSigner};

/// Policy knobs, from `[auth]` in the configuration.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub self_signup: bool,
    pub policy: PasswordPolicy,
    pub password_params: PasswordParams,
    pub mfa_required_roles: Vec<String>,
}

/// Where a request came from, for throttling and the audit log.
#[derive(Clone, Debug, Default)]
pub struct ClientContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The two throttles login consults: per account and per client IP.
pub struct Throttles {
    pub account: Arc<dyn LoginThrottle>,
    pub ip: Arc<dyn LoginThrottle>,
}

pub struct AuthService {
    pub(crate) store: Store,
    pub(crate) events: Events,
    pub(crate) settings: AuthSettings,
    pub(crate) signer: TokenSigner,
    pub(crate) revocation: Arc<dyn RevocationCache>,
    pub(crate) throttles: Throttles,
    pub(crate) master_key: MasterKey,
    /// Bounds concurrent argon2id computations to the cores: each holds ~19 MiB and a core for
    /// tens of milliseconds, so unbounded logins would only add memory and queueing.
    pub(crate) hash_permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// Last accepted TOTP step per user, so a code cannot be replayed within its window.
    pub(crate) totp_steps: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl AuthService {
    pub fn new(
        store: Store,
        events: Events,
        settings: AuthSettings,
        revocation: Arc<dyn RevocationCache>,
        throttles: Throttles,
        master_key: MasterKey,
    ) -> Self {
        let signer = TokenSigner::new(&master_key.derive_subkey("auterity-jwt-hs256-v1"));
        Self {
            store,
            events,
            settings,
            signer,
            revocation,
            throttles,
            master_key,
            totp_steps: Default::default(),
            hash_permits: std::sync::Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            )),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Authenticates an `Authorization` header value. Every request goes through here: signature,
    /// expiry, revocation (by jti and by user cut-off) for tokens; hash, expiry and owner state for keys.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::MissingCredentials)?;
        let (scheme, credential) = header.trim().split_once(' ').ok_or(AuthError::MissingCredentials)?;
        let credential = credential.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() || credential.contains(' ') {
            return Err(AuthError::MissingCredentials);
        }
        let result = if secrets::looks_like_api_key(credential) {
            self.authenticate_api_key(credential).await
        } else {
            self.authenticate_access_token(credential).await
        };
        if let Err(error) = &result {
            metrics::counter!("auth_failures_total", "reason" => error.reason()).increment(1);
        }
        result
    }

    async fn authenticate_access_token(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.signer.verify(token)?;
        if self.revocation.is_jti_revoked(claims.jti).await? {
            return Err(AuthError::Revoked);
        }
        // The jti is a UUIDv7: its embedded millisecond timestamp orders the token against a
        // cut-off more finely than `iat`'s whole seconds.
        if let Some(cutoff) = self.revocation.user_revoked_before(claims.sub).await?
            && issued_at_millis(&claims) <= cutoff.timestamp_millis()
        {
            return Err(AuthError::Revoked);
        }
        Ok(Principal {
            user_id: claims.user_id(),
            org_id: claims.org_id(),
            credential: Credential::AccessToken { jti: claims.jti, expires_at: claims.expires_at() },
            roles: claims.roles,
            systems: claims.systems,
            mfa_pending: claims.mfa_pending,
        })
    }

    async fn authenticate_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let (prefix, _) = secrets::parse_api_key(key).ok_or(AuthError::InvalidToken)?;
        let Some(stored) = self.store.api_keys.find_api_key_by_prefix(prefix).await? else {
            return Err(AuthError::InvalidToken);
        };
        if !secrets::verify_api_key_secret(key, &stored.secret_hash) {
            return Err(AuthError::InvalidToken);
        }
        let now = Utc::now();
        if stored.expires_at.is_some_and(|expiry| expiry <= now) {
            return Err(AuthError::InvalidToken);
        }
        let scope = OrgScope(stored.org_id);
        let Some(owner) = self.store.users.get_user(scope, stored.user_id).await? else {
            return Err(AuthError::InvalidToken);
        };
        if !owner.is_active {
            return Err(AuthError::Revoked);
        }
        // The key never exceeds its owner's current access.
        let owner_grants = self.store.users.list_access(scope, owner.id).await?;
        let systems = stored
            .systems
            .iter()
            .filter_map(|grant| {
                let held = owner_grants.iter().find(|g| g.system == grant.system)?.level;
                Some(SystemAccess { system: grant.system, level: held.min(grant.level), resources: vec![] })
            })
            .collect();
        // Recording the last use at most once a minute keeps reads from turning into writes.
        if stored.last_used_at.is_none_or(|last| now - last > chrono::Duration::seconds(60)) {
            let store = self.store.clone();
            let id = stored.id;
            tokio::spawn(async move {
                if let Err(error) = store.api_keys.touch_api_key(id, now).await {
                    tracing::warn!(%error, "failed to record api key use");
                }
            });
        }
        Ok(Principal {
            user_id: owner.id,
            org_id: owner.org_id,
            roles: vec![],
            systems,
            credential: Credential::ApiKey { id: stored.id },
            mfa_pending: false,
        })
    }

    /// Issues an access token for `user` with its current grants.
    pub(crate) async fn issue_access_token(
        &self,
        user: &User,
        mfa_pending: bool,
    ) -> Result<(String, Claims), AuthError> {
        let scope = OrgScope(user.org_id);
        let grants = if mfa_pending { vec![] } else { self.store.users.list_access(scope, user.id).await? };
        let systems: Vec<SystemAccess> = grants
            .into_iter()
            .map(|g| SystemAccess { system: g.system, level: g.level, resources: g.resources })
            .collect();
        let now = Utc::now();
        let claims = Claims {
            sub: user.id.0,
            iat: now.timestamp(),
            exp: now.timestamp() + self.settings.access_ttl.as_secs() as i64,
            jti: Uuid::now_v7(),
            iss: TokenSigner::issuer().to_owned(),
            org: user.org_id.0,
            permissions: permissions_for(&systems),
            systems,
            roles: if mfa_pending { vec![] } else { user.roles.clone() },
            mfa_pending,
        };
        Ok((self.signer.sign(&claims)?, claims))
    }

    /// Makes every token of `user` issued up to now invalid, on every replica.
    pub(crate) async fn cut_off_user_tokens(&self, user: UserId, at: DateTime<Utc>) -> Result<(), AuthError> {
        self.revocation.revoke_user_before(user.0, at).await?;
        self.store.tokens.revoke_user_refresh_tokens(user, at).await?;
        Ok(())
    }

    /// Loads persisted revocations into the cache (needed after a restart with the in-memory cache).
    pub async fn warm_revocation_cache(&self) -> Result<usize, AuthError> {
        let revoked = self.store.tokens.list_revoked_jtis(Utc::now()).await?;
        for (jti, expires_at) in &revoked {
            self.revocation.revoke_jti(*jti, *expires_at).await?;
        }
        let since = Utc::now() - chrono::Duration::seconds(self.settings.access_ttl.as_secs() as i64);
        let cutoffs = self.store.tokens.list_user_cutoffs(since).await?;
        for (user, at) in &cutoffs {
            self.revocation.revoke_user_before(user.0, *at).await?;
        }
        Ok(revoked.len() + cutoffs.len())
    }

    pub(crate) fn audit(
        &self,
        org: Option<OrgId>,
        actor: Option<UserId>,
        action: &str,
        target: Option<String>,
        ctx: &ClientContext,
        details: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            org_id: org,
            actor_id: actor,
            action: action.to_owned(),
            target,
            ip: ctx.ip.map(|ip| ip.to_string()),
            details,
            created_at: Utc::now(),
        }
    }

    /// Records effects that accompany no other change (failed logins, for instance).
    pub(crate) async fn record(&self, effects: Effects) -> Result<(), AuthError> {
        for entry in &effects.audit {
            self.store.audit.append_audit(entry).await?;
        }
        if !effects.events.is_empty() {
            self.events.emit(&effects.events).await?;
        }
        Ok(())
    }

    pub(crate) fn event(&self, event_type: &str, org: Option<OrgId>, payload: serde_json::Value) -> SystemEvent {
        SystemEvent::new(event_type, "auth", org, payload)
    }

    pub(crate) fn committed(&self) {
        self.events.committed();
    }
}

fn issued_at_millis(claims: &Claims) -> i64 {
    claims
        .jti
        .get_timestamp()
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            secs as i64 * 1000 + i64::from(nanos / 1_000_000)
        })
        .unwrap_or(claims.iat * 1000)
}
