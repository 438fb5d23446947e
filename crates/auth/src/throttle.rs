//! Login throttling with exponential, always-expiring delays, in memory or in Redis.
//!
//! There is no lock flag: after `free_attempts` failures a key is delayed, never locked, and all
//! state expires `window` after the last failure, so an attacker can slow a victim's logins down but
//! cannot disable the account until an administrator steps in (OWASP Authentication Cheat Sheet,
//! "Account Lockout"; NIST SP 800-63B §5.2.2). The caller throttles two keys per attempt —
//! `acct:<login>` with few free attempts and `ip:<addr>` with many — rejects without verifying while
//! either is blocked, and records a failure only for attempts it actually verified.
//!
//! Effective block lengths are capped by `window` as well as `max_delay`, since the counter expires
//! with the window; set `max_delay ≤ window`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::ConnectionManager;

#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    #[error("throttle store unavailable: {0}")]
    Redis(#[from] redis::RedisError),
}

#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// `Some(retry_after)` while the key is blocked, `None` when an attempt may proceed.
    async fn check(&self, key: &str) -> Result<Option<Duration>, ThrottleError>;
    /// Counts one failed attempt against the key.
    async fn record_failure(&self, key: &str) -> Result<(), ThrottleError>;
    /// Forgets the key's failures.
    async fn record_success(&self, key: &str) -> Result<(), ThrottleError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before any delay.
    pub free_attempts: u32,
    /// Failures are counted while each follows the previous one within this period; it is also the
    /// lifetime of the state after the last failure.
    pub window: Duration,
    /// Delay after the `free_attempts`-th failure; it doubles with each further failure.
    pub base_delay: Duration,
    /// Upper bound of a single delay.
    pub max_delay: Duration,
}

impl ThrottlePolicy {
    /// For `acct:<login>` keys: 5 free attempts, then 1 s doubling to 15 min.
    pub fn per_account() -> Self {
        Self {
            free_attempts: 5,
            window: Duration::from_secs(15 * 60),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
        }
    }

    /// For `ip:<addr>` keys: 50 free attempts (shared offices and NAT), then 1 s doubling to 15 min.
    pub fn per_ip() -> Self {
        Self { free_attempts: 50, ..Self::per_account() }
    }

    /// The delay owed after `failures` failures: `min(base_delay · 2^(failures − free_attempts), max_delay)`
    /// once `failures ≥ free_attempts`, otherwise none.
    pub fn delay_after(&self, failures: u32) -> Option<Duration> {
        if failures == 0 || failures < self.free_attempts {
            return None;
        }
        let doublings = failures - self.free_attempts;
        // 2^31 already overflows any sensible delay; capping the exponent keeps the shift defined.
        let factor = 1u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX);
        Some(self.base_delay.checked_mul(factor).map_or(self.max_delay, |delay| delay.min(self.max_delay)))
    }

    /// How long the key stays blocked, given its failure count and the time since its last failure.
    pub fn retry_after(&self, failures: u32, since_last_failure: Duration) -> Option<Duration> {
        if since_last_failure >= self.window {
            return None;
        }
        let delay = self.delay_after(failures)?;
        delay.checked_sub(since_last_failure).filter(|remaining| !remaining.is_zero())
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
}

#[derive(Debug)]
struct MemoryState {
    entries: HashMap<String, Entry>,
    last_prune: Instant,
}

/// Single-process throttle. Memory is bounded: expired entries are pruned at most once per window
/// (or sooner when full), and at capacity the entry with the oldest failure is evicted — an attacker
/// spraying keys can at worst reset stale counters, never grow the map.
#[derive(Debug)]
pub struct MemoryThrottle {
    policy: ThrottlePolicy,
    max_entries: usize,
    state: Mutex<MemoryState>,
}

impl MemoryThrottle {
    pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

    pub fn new(policy: ThrottlePolicy) -> Self {
        Self::with_max_entries(policy, Self::DEFAULT_MAX_ENTRIES)
    }

    pub fn with_max_entries(policy: ThrottlePolicy, max_entries: usize) -> Self {
        let state = MemoryState { entries: HashMap::new(), last_prune: Instant::now() };
        Self { policy, max_entries: max_entries.max(1), state: Mutex::new(state) }
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // The map holds plain counters; a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_at(&self, key: &str, now: Instant) -> Option<Duration> {
        let state = self.lock();
        let entry = state.entries.get(key)?;
        self.policy.retry_after(entry.failures, now.saturating_duration_since(entry.last_failure))
    }

    fn record_failure_at(&self, key: &str, now: Instant) {
        let mut state = self.lock();
        if now.saturating_duration_since(state.last_prune) >= self.policy.window {
            self.prune(&mut state, now);
        }
        let window = self.policy.window;
        if let Some(entry) = state.entries.get_mut(key) {
            let within_window = now.saturating_duration_since(entry.last_failure) < window;
            entry.failures = if within_window { entry.failures.saturating_add(1) } else { 1 };
            entry.last_failure = now;
            return;
        }
        if state.entries.len() >= self.max_entries {
            self.prune(&mut state, now);
        }
        if state.entries.len() >= self.max_entries {
            let oldest = state.entries.iter().min_by_key(|(_, entry)| entry.last_failure).map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                state.entries.remove(&oldest);
            }
        }
        state.entries.insert(key.to_owned(), Entry { failures: 1, last_failure: now });
    }

    fn prune(&self, state: &mut MemoryState, now: Instant) {
        let window = self.policy.window;
        state.entries.retain(|_, entry| now.saturating_duration_since(entry.last_failure) < window);
        state.last_prune = now;
    }
}

#[async_trait]
impl LoginThrottle for MemoryThrottle {
    async fn check(&self, key: &str) -> Result<Option<Duration>, ThrottleError> {
        Ok(self.check_at(key, Instant::now()))
    }

    async fn record_failure(&self, key: &str) -> Result<(), ThrottleError> {
        self.record_failure_at(key, Instant::now());
        Ok(())
    }

    async fn record_success(&self, key: &str) -> Result<(), ThrottleError> {
        self.lock().entries.remove(key);
        Ok(())
    }
}

/// Reads `{failures, ms since last failure}` in one step. Redis' clock is used so that every app
/// node agrees on time.
const CHECK_SCRIPT: &str = r"
local state = redis.call('HMGET', KEYS[1], 'n', 't')
if not state[1] or not state[2] then return {} end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return {tonumber(state[1]), math.max(0, now_ms - tonumber(state[2]))}
";

/// Increments (or restarts, outside the window) the counter and refreshes the TTL atomically.
const RECORD_FAILURE_SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local window_ms = tonumber(ARGV[1])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'n', 't')
local n = 1
if state[1] and state[2] and now_ms - tonumber(state[2]) < window_ms then n = tonumber(state[1]) + 1 end
redis.call('HSET', KEYS[1], 'n', n, 't', now_ms)
redis.call('PEXPIRE', KEYS[1], window_ms)
return n
";

/// Throttle shared by every node through Redis. Each key is a hash `{n, t}` whose TTL is the window,
/// so Redis forgets it exactly when the policy would.
#[derive(Clone)]
pub struct RedisThrottle {
    connection: ConnectionManager,
    prefix: String,
    policy: ThrottlePolicy,
    check_script: redis::Script,
    record_failure_script: redis::Script,
}

impl std::fmt::Debug for RedisThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisThrottle").field("prefix", &self.prefix).field("policy", &self.policy).finish()
    }
}

impl RedisThrottle {
    /// `prefix` is prepended to every key (e.g. `auterity:throttle:`).
    pub fn new(connection: ConnectionManager, prefix: impl Into<String>, policy: ThrottlePolicy) -> Self {
        Self {
            connection,
            prefix: prefix.into(),
            policy,
            check_script: redis::Script::new(CHECK_SCRIPT),
            record_failure_script: redis::Script::new(RECORD_FAILURE_SCRIPT),
        }
    }

    fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn window_ms(&self) -> u64 {
        // A zero TTL would be refused by PEXPIRE; one millisecond is the shortest meaningful window.
        u64::try_from(self.policy.window.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

#[async_trait]
impl LoginThrottle for RedisThrottle {
    async fn check(&self, key: &str) -> Result<Option<Duration>, ThrottleError> {
        let mut connection = self.connection.clone();
        let state: Vec<u64> = self.check_script.key(self.redis_key(key)).invoke_async(&mut connection).await?;
        let [failures, since_ms] = state[..] else {
            return Ok(None);
        };
        let failures = u32::try_from(failures).unwrap_or(u32::MAX);
        Ok(self.policy.retry_after(failures, Duration::from_millis(since_ms)))
    }

    async fn record_failure(&self, key: &str) -> Result<(), ThrottleError> {
        let mut connection = self.connection.clone();
        let _failures: u64 = self
            .record_failure_script
            .key(self.redis_key(key))
            .arg(self.window_ms())
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    async fn record_success(&self, key: &str) -> Result<(), ThrottleError> {
        let mut connection = self.connection.clone();
        let _deleted: u64 = redis::cmd("DEL").arg(self.redis_key(key)).query_async(&mut connection).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_attempts: 3,
            window: Duration::from_secs(600),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }

    #[test]
    fn delay_grows_exponentially_and_is_capped() {
        let policy = policy();
        assert_eq!(policy.delay_after(0), None);
        assert_eq!(policy.delay_after(2), None);
        assert_eq!(policy.delay_after(3), Some(Duration::from_secs(1)));
        assert_eq!(policy.delay_after(4), Some(Duration::from_secs(2)));
        assert_eq!(policy.delay_after(6), Some(Duration::from_secs(8)));
        assert_eq!(policy.delay_after(9), Some(Duration::from_secs(60)));
        assert_eq!(policy.delay_after(40), Some(Duration::from_secs(60)));
        assert_eq!(policy.delay_after(u32::MAX), Some(Duration::from_secs(60)));
        let no_free = ThrottlePolicy { free_attempts: 0, ..policy };
        assert_eq!(no_free.delay_after(0), None);
        assert_eq!(no_free.delay_after(1), Some(Duration::from_secs(2)));
    }

    #[test]
    fn retry_after_counts_down_from_the_last_failure() {
        let policy = policy();
        assert_eq!(policy.retry_after(4, Duration::ZERO), Some(Duration::from_secs(2)));
        assert_eq!(policy.retry_after(4, Duration::from_millis(500)), Some(Duration::from_millis(1500)));
        assert_eq!(policy.retry_after(4, Duration::from_secs(2)), None);
        assert_eq!(policy.retry_after(2, Duration::ZERO), None);
        // Outside the window nothing is owed, however many failures there were.
        let short_window = ThrottlePolicy { window: Duration::from_secs(30), ..policy };
        assert_eq!(short_window.retry_after(40, Duration::from_secs(30)), None);
    }

    #[test]
    fn memory_blocks_after_free_attempts_and_unblocks_later() {
        let throttle = MemoryThrottle::new(policy());
        let start = Instant::now();
        for _ in 0..2 {
            throttle.record_failure_at("acct:alice", start);
            assert_eq!(throttle.check_at("acct:alice", start), None);
        }
        throttle.record_failure_at("acct:alice", start);
        assert_eq!(throttle.check_at("acct:alice", start), Some(Duration::from_secs(1)));
        assert_eq!(throttle.check_at("acct:bob", start), None);
        let later = start + Duration::from_secs(1);
        assert_eq!(throttle.check_at("acct:alice", later), None);
        throttle.record_failure_at("acct:alice", later);
        assert_eq!(throttle.check_at("acct:alice", later), Some(Duration::from_secs(2)));
        assert_eq!(
            throttle.check_at("acct:alice", later + Duration::from_millis(1500)),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn memory_block_is_never_permanent() {
        let throttle = MemoryThrottle::new(policy());
        let start = Instant::now();
        for _ in 0..1_000 {
            throttle.record_failure_at("acct:victim", start);
        }
        assert_eq!(throttle.check_at("acct:victim", start), Some(Duration::from_secs(60)));
        assert_eq!(throttle.check_at("acct:victim", start + Duration::from_secs(60)), None);
        // After the window the count restarts from one.
        let after_window = start + Duration::from_secs(600);
        throttle.record_failure_at("acct:victim", after_window);
        assert_eq!(throttle.check_at("acct:victim", after_window), None);
    }

    #[tokio::test]
    async fn memory_success_clears_the_key() {
        let throttle = MemoryThrottle::new(policy());
        for _ in 0..5 {
            throttle.record_failure("acct:alice").await.unwrap();
        }
        assert!(throttle.check("acct:alice").await.unwrap().is_some());
        throttle.record_success("acct:alice").await.unwrap();
        assert_eq!(throttle.check("acct:alice").await.unwrap(), None);
        assert!(throttle.is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let throttle = MemoryThrottle::with_max_entries(policy(), 10);
        let start = Instant::now();
        for i in 0..100u64 {
            throttle.record_failure_at(&format!("ip:{i}"), start + Duration::from_millis(i));
        }
        assert_eq!(throttle.len(), 10);
        // The most recent keys survive eviction.
        for _ in 0..2 {
            throttle.record_failure_at("ip:99", start + Duration::from_millis(100));
        }
        assert!(throttle.check_at("ip:99", start + Duration::from_millis(100)).is_some());
        assert_eq!(throttle.check_at("ip:0", start + Duration::from_millis(100)), None);
    }

    #[test]
    fn memory_prunes_expired_entries() {
        let throttle = MemoryThrottle::new(policy());
        let start = Instant::now();
        for i in 0..50 {
            throttle.record_failure_at(&format!("ip:{i}"), start);
        }
        assert_eq!(throttle.len(), 50);
        throttle.record_failure_at("ip:new", start + Duration::from_secs(601));
        assert_eq!(throttle.len(), 1);
    }

    mod redis_backed {
        use super::*;

        async fn throttle(policy: ThrottlePolicy) -> (RedisThrottle, ConnectionManager, String) {
            let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
            let connection = ConnectionManager::new(client).await.unwrap();
            let prefix = format!("auterity-test:throttle:{}:", uuid::Uuid::new_v4());
            (RedisThrottle::new(connection.clone(), prefix.clone(), policy), connection, prefix)
        }

        #[tokio::test]
        async fn blocks_after_free_attempts_and_success_clears() {
            let (throttle, _, _) = throttle(policy()).await;
            for _ in 0..2 {
                throttle.record_failure("acct:alice").await.unwrap();
                assert_eq!(throttle.check("acct:alice").await.unwrap(), None);
            }
            throttle.record_failure("acct:alice").await.unwrap();
            let retry = throttle.check("acct:alice").await.unwrap().unwrap();
            assert!(retry <= Duration::from_secs(1) && retry > Duration::from_millis(500), "{retry:?}");
            assert_eq!(throttle.check("acct:bob").await.unwrap(), None);
            throttle.record_success("acct:alice").await.unwrap();
            assert_eq!(throttle.check("acct:alice").await.unwrap(), None);
        }

        #[tokio::test]
        async fn delay_doubles_and_is_capped() {
            let (throttle, _, _) = throttle(policy()).await;
            for _ in 0..20 {
                throttle.record_failure("acct:victim").await.unwrap();
            }
            let retry = throttle.check("acct:victim").await.unwrap().unwrap();
            assert!(retry <= Duration::from_secs(60) && retry > Duration::from_secs(55), "{retry:?}");
        }

        #[tokio::test]
        async fn keys_expire_with_the_window() {
            let policy = ThrottlePolicy {
                free_attempts: 1,
                window: Duration::from_millis(400),
                base_delay: Duration::from_secs(10),
                max_delay: Duration::from_secs(10),
            };
            let (throttle, mut connection, prefix) = throttle(policy).await;
            throttle.record_failure("ip:203.0.113.7").await.unwrap();
            assert!(throttle.check("ip:203.0.113.7").await.unwrap().is_some());
            let ttl: i64 =
                redis::cmd("PTTL").arg(format!("{prefix}ip:203.0.113.7")).query_async(&mut connection).await.unwrap();
            assert!(ttl > 0 && ttl <= 400, "{ttl}");
            tokio::time::sleep(Duration::from_millis(500)).await;
            // The block (10 s) outlived its window, yet the key is free: the window bounds every block.
            assert_eq!(throttle.check("ip:203.0.113.7").await.unwrap(), None);
            let exists: u64 =
                redis::cmd("EXISTS").arg(format!("{prefix}ip:203.0.113.7")).query_async(&mut connection).await.unwrap();
            assert_eq!(exists, 0);
        }

        #[tokio::test]
        async fn prefixes_isolate_throttles() {
            let (a, _, _) = throttle(policy()).await;
            let (b, _, _) = throttle(policy()).await;
            for _ in 0..3 {
                a.record_failure("acct:shared").await.unwrap();
            }
            assert!(a.check("acct:shared").await.unwrap().is_some());
            assert_eq!(b.check("acct:shared").await.unwrap(), None);
        }
    }
}
