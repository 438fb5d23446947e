//! Revocation of access tokens before they expire: by token (`jti`) and by user (a cut-off time).
//!
//! Consulted on every authenticated request, so lookups must stay cheap; entries live only as long as
//! a token they could match, which bounds memory and Redis keys. Refresh tokens are revoked in the
//! database (rotation and family revocation); this cache only covers short-lived access tokens.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use redis::aio::ConnectionManager;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error("revocation store unavailable: {0}")]
    Redis(#[from] redis::RedisError),
}

#[async_trait]
pub trait RevocationCache: Send + Sync {
    /// Revokes one access token until its own expiry, after which it is invalid anyway.
    async fn revoke_jti(&self, jti: Uuid, expires_at: DateTime<Utc>) -> Result<(), RevocationError>;
    async fn is_jti_revoked(&self, jti: Uuid) -> Result<bool, RevocationError>;
    /// Revokes every access token of `user` issued before `at` (log out everywhere, password change,
    /// role change). A later cut-off replaces an earlier one, never the reverse.
    async fn revoke_user_before(&self, user: Uuid, at: DateTime<Utc>) -> Result<(), RevocationError>;
    /// The user's cut-off while any token it could reject may still be alive. The Redis store keeps
    /// millisecond precision.
    async fn user_revoked_before(&self, user: Uuid) -> Result<Option<DateTime<Utc>>, RevocationError>;
}

/// A map whose entries carry their own expiry; expired ones are swept when the map has doubled since
/// the last sweep, so inserts stay amortised O(1) and size tracks the live entries.
#[derive(Debug)]
struct ExpiringMap<V> {
    entries: HashMap<Uuid, (V, DateTime<Utc>)>,
    sweep_at_len: usize,
}

impl<V> ExpiringMap<V> {
    const MIN_SWEEP_LEN: usize = 1024;

    fn new() -> Self {
        Self { entries: HashMap::new(), sweep_at_len: Self::MIN_SWEEP_LEN }
    }

    fn get_live(&self, key: &Uuid, now: DateTime<Utc>) -> Option<&V> {
        self.entries.get(key).filter(|(_, expires_at)| *expires_at > now).map(|(value, _)| value)
    }

    fn insert(&mut self, key: Uuid, value: V, expires_at: DateTime<Utc>, now: DateTime<Utc>) {
        if self.entries.len() >= self.sweep_at_len {
            self.entries.retain(|_, (_, expires_at)| *expires_at > now);
            self.sweep_at_len = (self.entries.len() * 2).max(Self::MIN_SWEEP_LEN);
        }
        self.entries.insert(key, (value, expires_at));
    }
}

/// Single-process revocation cache. Readers share an `RwLock`, so request-path lookups never wait on
/// each other; only revocations take the write lock.
#[derive(Debug)]
pub struct MemoryRevocation {
    max_access_token_lifetime: TimeDelta,
    jtis: RwLock<ExpiringMap<()>>,
    users: RwLock<ExpiringMap<DateTime<Utc>>>,
}

impl MemoryRevocation {
    /// `max_access_token_lifetime` bounds how long a user cut-off must be kept.
    pub fn new(max_access_token_lifetime: Duration) -> Self {
        Self {
            max_access_token_lifetime: to_time_delta(max_access_token_lifetime),
            jtis: RwLock::new(ExpiringMap::new()),
            users: RwLock::new(ExpiringMap::new()),
        }
    }

    pub fn revoked_jti_count(&self) -> usize {
        read(&self.jtis).entries.len()
    }
}

// The maps hold plain values that a panicking writer cannot leave half-updated, so poisoning is ignored.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn to_time_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[async_trait]
impl RevocationCache for MemoryRevocation {
    async fn revoke_jti(&self, jti: Uuid, expires_at: DateTime<Utc>) -> Result<(), RevocationError> {
        let now = Utc::now();
        if expires_at > now {
            write(&self.jtis).insert(jti, (), expires_at, now);
        }
        Ok(())
    }

    async fn is_jti_revoked(&self, jti: Uuid) -> Result<bool, RevocationError> {
        Ok(read(&self.jtis).get_live(&jti, Utc::now()).is_some())
    }

    async fn revoke_user_before(&self, user: Uuid, at: DateTime<Utc>) -> Result<(), RevocationError> {
        let now = Utc::now();
        let keep_until = at.checked_add_signed(self.max_access_token_lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC);
        if keep_until <= now {
            // Every token issued before `at` has already expired.
            return Ok(());
        }
        let mut users = write(&self.users);
        if users.get_live(&user, now).is_some_and(|current| *current >= at) {
            return Ok(());
        }
        users.insert(user, at, keep_until, now);
        Ok(())
    }

    async fn user_revoked_before(&self, user: Uuid) -> Result<Option<DateTime<Utc>>, RevocationError> {
        Ok(read(&self.users).get_live(&user, Utc::now()).copied())
    }
}

/// Keeps the larger cut-off; `ARGV[1]` is the cut-off and `ARGV[2]` its expiry, both in unix ms.
const REVOKE_USER_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]))
if current and current >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
return 1
";

/// Revocation shared by every node through Redis: `<prefix>jti:<uuid>` = 1 expiring with the token
/// (`SET … EXAT exp`), `<prefix>user:<uuid>` = cut-off in unix milliseconds expiring one maximum
/// access-token lifetime after the cut-off.
#[derive(Clone)]
pub struct RedisRevocation {
    connection: ConnectionManager,
    prefix: String,
    max_access_token_lifetime: TimeDelta,
    revoke_user_script: redis::Script,
}

impl std::fmt::Debug for RedisRevocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRevocation")
            .field("prefix", &self.prefix)
            .field("max_access_token_lifetime", &self.max_access_token_lifetime)
            .finish()
    }
}

impl RedisRevocation {
    /// `prefix` is prepended to every key (e.g. `auterity:revoked:`).
    pub fn new(connection: ConnectionManager, prefix: impl Into<String>, max_access_token_lifetime: Duration) -> Self {
        Self {
            connection,
            prefix: prefix.into(),
            max_access_token_lifetime: to_time_delta(max_access_token_lifetime),
            revoke_user_script: redis::Script::new(REVOKE_USER_SCRIPT),
        }
    }

    fn jti_key(&self, jti: Uuid) -> String {
        format!("{}jti:{jti}", self.prefix)
    }

    fn user_key(&self, user: Uuid) -> String {
        format!("{}user:{user}", self.prefix)
    }
}

#[async_trait]
impl RevocationCache for RedisRevocation {
    async fn revoke_jti(&self, jti: Uuid, expires_at: DateTime<Utc>) -> Result<(), RevocationError> {
        if expires_at <= Utc::now() {
            return Ok(());
        }
        // Round up so the key never disappears before the token does.
        let expires_at_secs = expires_at.timestamp() + i64::from(expires_at.timestamp_subsec_nanos() > 0);
        let mut connection = self.connection.clone();
        let () = redis::cmd("SET")
            .arg(self.jti_key(jti))
            .arg(1)
            .arg("EXAT")
            .arg(expires_at_secs)
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    async fn is_jti_revoked(&self, jti: Uuid) -> Result<bool, RevocationError> {
        let mut connection = self.connection.clone();
        let exists: u64 = redis::cmd("EXISTS").arg(self.jti_key(jti)).query_async(&mut connection).await?;
        Ok(exists > 0)
    }

    async fn revoke_user_before(&self, user: Uuid, at: DateTime<Utc>) -> Result<(), RevocationError> {
        let keep_until = at.checked_add_signed(self.max_access_token_lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC);
        if keep_until <= Utc::now() {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        let _replaced: i64 = self
            .revoke_user_script
            .key(self.user_key(user))
            .arg(at.timestamp_millis())
            .arg(keep_until.timestamp_millis())
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    async fn user_revoked_before(&self, user: Uuid) -> Result<Option<DateTime<Utc>>, RevocationError> {
        let mut connection = self.connection.clone();
        let cutoff_ms: Option<i64> = redis::cmd("GET").arg(self.user_key(user)).query_async(&mut connection).await?;
        Ok(cutoff_ms.and_then(DateTime::from_timestamp_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Duration = Duration::from_secs(900);

    /// Millisecond-truncated now, so values survive the Redis round trip unchanged.
    fn now_ms() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
    }

    /// One behavioural suite run against both implementations.
    async fn revocation_contract(cache: &dyn RevocationCache) {
        let now = now_ms();
        let jti = Uuid::now_v7();
        assert!(!cache.is_jti_revoked(jti).await.unwrap());
        cache.revoke_jti(jti, now + TimeDelta::minutes(5)).await.unwrap();
        assert!(cache.is_jti_revoked(jti).await.unwrap());
        assert!(!cache.is_jti_revoked(Uuid::now_v7()).await.unwrap());

        // A token that has already expired needs no entry.
        let expired = Uuid::now_v7();
        cache.revoke_jti(expired, now - TimeDelta::seconds(1)).await.unwrap();
        assert!(!cache.is_jti_revoked(expired).await.unwrap());

        let user = Uuid::now_v7();
        assert_eq!(cache.user_revoked_before(user).await.unwrap(), None);
        cache.revoke_user_before(user, now).await.unwrap();
        assert_eq!(cache.user_revoked_before(user).await.unwrap(), Some(now));
        // An earlier cut-off never replaces a later one.
        cache.revoke_user_before(user, now - TimeDelta::minutes(1)).await.unwrap();
        assert_eq!(cache.user_revoked_before(user).await.unwrap(), Some(now));
        let later = now + TimeDelta::seconds(2);
        cache.revoke_user_before(user, later).await.unwrap();
        assert_eq!(cache.user_revoked_before(user).await.unwrap(), Some(later));
        assert_eq!(cache.user_revoked_before(Uuid::now_v7()).await.unwrap(), None);

        // A cut-off older than any live token is dropped.
        let old_user = Uuid::now_v7();
        cache.revoke_user_before(old_user, now - TimeDelta::from_std(LIFETIME).unwrap()).await.unwrap();
        assert_eq!(cache.user_revoked_before(old_user).await.unwrap(), None);
    }

    /// Entries must vanish by themselves once their token has expired.
    async fn expiry_contract(cache: &dyn RevocationCache) {
        let jti = Uuid::now_v7();
        cache.revoke_jti(jti, Utc::now() + TimeDelta::seconds(1)).await.unwrap();
        assert!(cache.is_jti_revoked(jti).await.unwrap());
        tokio::time::sleep(Duration::from_millis(2200)).await;
        assert!(!cache.is_jti_revoked(jti).await.unwrap());
    }

    #[tokio::test]
    async fn memory_contract() {
        revocation_contract(&MemoryRevocation::new(LIFETIME)).await;
    }

    #[tokio::test]
    async fn memory_expiry() {
        expiry_contract(&MemoryRevocation::new(LIFETIME)).await;
    }

    #[tokio::test]
    async fn memory_user_cutoff_expires_after_the_token_lifetime() {
        let cache = MemoryRevocation::new(Duration::from_millis(200));
        let user = Uuid::now_v7();
        cache.revoke_user_before(user, Utc::now()).await.unwrap();
        assert!(cache.user_revoked_before(user).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.user_revoked_before(user).await.unwrap(), None);
    }

    #[test]
    fn memory_sweeps_expired_entries() {
        let mut map = ExpiringMap::new();
        let now = Utc::now();
        for _ in 0..ExpiringMap::<()>::MIN_SWEEP_LEN {
            map.insert(Uuid::now_v7(), (), now - TimeDelta::seconds(1), now);
        }
        let live = Uuid::now_v7();
        map.insert(live, (), now + TimeDelta::minutes(1), now);
        assert_eq!(map.entries.len(), 1);
        assert!(map.get_live(&live, now).is_some());
    }

    mod redis_backed {
        use super::*;

        async fn cache(lifetime: Duration) -> (RedisRevocation, ConnectionManager, String) {
            let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
            let connection = ConnectionManager::new(client).await.unwrap();
            let prefix = format!("auterity-test:revoked:{}:", Uuid::new_v4());
            (RedisRevocation::new(connection.clone(), prefix.clone(), lifetime), connection, prefix)
        }

        #[tokio::test]
        async fn redis_contract() {
            let (cache, _, _) = cache(LIFETIME).await;
            revocation_contract(&cache).await;
        }

        #[tokio::test]
        async fn redis_expiry() {
            let (cache, _, _) = cache(LIFETIME).await;
            expiry_contract(&cache).await;
        }

        #[tokio::test]
        async fn redis_keys_carry_ttls() {
            let (cache, mut connection, prefix) = cache(LIFETIME).await;
            let jti = Uuid::now_v7();
            cache.revoke_jti(jti, Utc::now() + TimeDelta::seconds(120)).await.unwrap();
            let ttl: i64 =
                redis::cmd("TTL").arg(format!("{prefix}jti:{jti}")).query_async(&mut connection).await.unwrap();
            assert!((119..=121).contains(&ttl), "{ttl}");

            let user = Uuid::now_v7();
            cache.revoke_user_before(user, Utc::now()).await.unwrap();
            let ttl: i64 =
                redis::cmd("TTL").arg(format!("{prefix}user:{user}")).query_async(&mut connection).await.unwrap();
            assert!((899..=900).contains(&ttl), "{ttl}");
        }

        #[tokio::test]
        async fn prefixes_isolate_caches() {
            let (a, _, _) = cache(LIFETIME).await;
            let (b, _, _) = cache(LIFETIME).await;
            let jti = Uuid::now_v7();
            a.revoke_jti(jti, Utc::now() + TimeDelta::minutes(1)).await.unwrap();
            assert!(a.is_jti_revoked(jti).await.unwrap());
            assert!(!b.is_jti_revoked(jti).await.unwrap());
        }
    }
}
