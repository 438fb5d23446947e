//! Wiring: turns a validated `Config` into a running platform — storage (migrated), master key,
//! Redis/NATS clients when configured, the event relay, auth, first-start bootstrap — and serves
//! HTTP with graceful shutdown.

use auterity_auth::bootstrap::{self, Bootstrapped};
use auterity_auth::crypto::MasterKey;
use auterity_auth::password::{PasswordParams, PasswordPolicy};
use auterity_auth::revocation::{MemoryRevocation, RedisRevocation, RevocationCache};
use auterity_auth::throttle::{LoginThrottle, MemoryThrottle, RedisThrottle, ThrottlePolicy};
use auterity_auth::{AuthService, AuthSettings, Throttles};
use auterity_config::{Config, Role};
use auterity_events::{Events, InProcessBus};
use auterity_store::{Store, StoreOptions};
use auterity_workflows::engine::EngineConfig;
use auterity_workflows::engine::service::WorkflowService;
use auterity_workflows::triggers::worker as trigger_worker;
use auterity_workflows::triggers::{TriggerService, TriggerSettings};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("storage: {0}")]
    Store(#[from] auterity_store::StoreError),
    #[error("auth: {0}")]
    Auth(#[from] auterity_auth::AuthError),
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("outbound http: {0}")]
    Outbound(String),
    #[error("redis: {0}")]
    Redis(String),
    #[error("nats: {0}")]
    Nats(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Platform {
    pub state: AppState,
    pub bootstrap: Bootstrapped,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Platform {
    /// Connects, migrates, bootstraps and starts background tasks.
    pub async fn start(config: Config) -> Result<Self, PlatformError> {
        let config = Arc::new(config);
        tokio::fs::create_dir_all(&config.storage.data_dir).await?;
        let store = Store::connect(&StoreOptions {
            database_url: config.storage.effective_database_url(),
            max_connections: config.storage.pool_size(),
            pg_schema: config.storage.database_schema.clone(),
        })
        .await?;
        store.migrate().await?;

        let master_key = load_master_key(&config).await?;
        let secret_key = master_key.clone();
        let redis = match &config.storage.redis_url {
            Some(url) => Some(connect_redis(url.expose()).await?),
            None => None,
        };
        let nats = match &config.storage.nats_url {
            Some(url) => Some(
                async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(5))
                    .connect(url.expose())
                    .await
                    .map_err(|e| PlatformError::Nats(e.to_string()))?,
            ),
            None => None,
        };

        let access_ttl = Duration::from_secs(config.auth.access_token_ttl_secs);
        let throttle = &config.auth.throttle;
        let policy = |free: u32| ThrottlePolicy {
            free_attempts: free,
            window: Duration::from_secs(throttle.window_secs),
            base_delay: Duration::from_secs(throttle.base_delay_secs),
            max_delay: Duration::from_secs(throttle.max_delay_secs),
        };
        let prefix = &config.storage.redis_key_prefix;
        let (revocation, throttles): (Arc<dyn RevocationCache>, Throttles) = match &redis {
            Some(connection) => (
                Arc::new(RedisRevocation::new(connection.clone(), format!("{prefix}revoked:"), access_ttl)),
                Throttles {
                    account: Arc::new(RedisThrottle::new(
                        connection.clone(),
                        format!("{prefix}throttle:"),
                        policy(throttle.account_free_attempts),
                    )) as Arc<dyn LoginThrottle>,
                    ip: Arc::new(RedisThrottle::new(
                        connection.clone(),
                        format!("{prefix}throttle:"),
                        policy(throttle.ip_free_attempts),
                    )),
                },
            ),
            None => (
                Arc::new(MemoryRevocation::new(access_ttl)),
                Throttles {
                    account: Arc::new(MemoryThrottle::new(policy(throttle.account_free_attempts))),
                    ip: Arc::new(MemoryThrottle::new(policy(throttle.ip_free_attempts))),
                },
            ),
        };

        let events = Events::new(store.outbox.clone(), Arc::new(InProcessBus::default()));
        let password_params = PasswordParams::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations, 1)
            .map_err(|e| PlatformError::MasterKey(format!("invalid argon2 parameters: {e}")))?;
        let settings = AuthSettings {
            access_ttl,
            refresh_ttl: Duration::from_secs(config.auth.refresh_token_ttl_secs),
            self_signup: config.auth.self_signup,
            policy: PasswordPolicy {
                require_composition: config.auth.password_composition,
                ..PasswordPolicy::default()
            },
            password_params,
            mfa_required_roles: config.auth.mfa_required_roles.clone(),
        };
        let providers = Arc::new(auterity_relay::providers::ProviderService::new(store.clone(), master_key.clone()));
        let trigger_key = master_key.clone();
        let auth =
            Arc::new(AuthService::new(store.clone(), events.clone(), settings, revocation, throttles, master_key));
        auth.warm_revocation_cache().await?;

        let org = bootstrap::ensure_default_org(&store, &config.auth.default_org_name).await?;
        let bootstrapped = bootstrap::ensure_first_admin(
            &auth,
            &org,
            config.auth.admin_email.as_deref(),
            config.auth.admin_password.as_ref().map(|p| p.expose()),
        )
        .await?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let outbound = auterity_workflows::outbound::Outbound::new(&config.egress);
        outbound.check().map_err(|e| PlatformError::Outbound(e.to_string()))?;
        let secrets = Arc::new(auterity_workflows::secrets::SecretService::new(store.clone(), &secret_key));
        let engine_config = EngineConfig {
            services: config.workflows.clone(),
            outbound,
            deny_private: config.egress.deny_private,
            secrets: Some(secrets.clone()),
            ..EngineConfig::default()
        };
        let engine = auterity_workflows::engine::Engine::new(store.clone(), events.clone(), engine_config);
        let workflows = Arc::new(WorkflowService::new(store.clone(), engine.clone(), trigger_key));
        let trigger_settings = TriggerSettings {
            replay_window_secs: i64::try_from(config.triggers.webhook_replay_window_secs).unwrap_or(300),
        };
        let triggers = Arc::new(TriggerService::new(workflows.clone(), trigger_settings));
        // Whichever process relays an event records its effects on waits and event triggers
        // before marking it published, so a crash or a lagging subscriber loses none.
        let consumers: Vec<Arc<dyn auterity_events::OutboxConsumer>> = vec![engine.clone(), triggers.clone()];
        let mut tasks = vec![events.start_relay(consumers, shutdown_rx.clone())];
        if config.roles.contains(&Role::Worker) {
            tasks.push(tokio::spawn(engine.clone().run(shutdown_rx.clone())));
            tasks.push(tokio::spawn(trigger_worker::run_scheduler(triggers.clone(), shutdown_rx.clone())));
            tasks.push(tokio::spawn(auterity_workflows::triggers::flow::run_admitter(
                workflows.clone(),
                shutdown_rx.clone(),
            )));
        }
        let variables = Arc::new(auterity_workflows::variables::VariableService::new(store.clone()));
        let state = AppState {
            config,
            store,
            events,
            auth,
            providers,
            workflows,
            secrets,
            variables,
            triggers,
            default_org: org.id,
            redis,
            nats,
        };
        Ok(Self { state, bootstrap: bootstrapped, shutdown, tasks })
    }

    pub fn router(&self) -> axum::Router {
        crate::build_router(self.state.clone())
    }

    /// Stops background tasks (after the HTTP server has drained) and closes the pool.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.state.store.close().await;
    }
}

async fn connect_redis(url: &str) -> Result<redis::aio::ConnectionManager, PlatformError> {
    let client = redis::Client::open(url).map_err(|e| PlatformError::Redis(e.to_string()))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(5))
        .set_response_timeout(Duration::from_secs(5));
    tokio::time::timeout(Duration::from_secs(10), redis::aio::ConnectionManager::new_with_config(client, config))
        .await
        .map_err(|_| PlatformError::Redis("timed out connecting".into()))?
        .map_err(|e| PlatformError::Redis(e.to_string()))
}

/// The configured master key, else the one kept in `<data_dir>/master.key` (created 0600 on first start).
async fn load_master_key(config: &Config) -> Result<MasterKey, PlatformError> {
    if let Some(key) = &config.auth.master_key {
        return MasterKey::from_base64(key.expose()).map_err(|e| PlatformError::MasterKey(e.to_string()));
    }
    let path = config.storage.data_dir.join("master.key");
    if let Ok(existing) = tokio::fs::read_to_string(&path).await {
        return MasterKey::from_base64(existing.trim()).map_err(|e| PlatformError::MasterKey(e.to_string()));
    }
    if config.storage.database_url.as_ref().is_some_and(|u| u.expose().starts_with("postgres")) {
        tracing::warn!(
            "no auth.master_key configured: generating one in the data directory; every process sharing this database needs the same key (set AUTERITY_MASTER_KEY)"
        );
    }
    let key = MasterKey::generate();
    write_private_file(&path, key.to_base64().as_bytes()).await?;
    Ok(key)
}

async fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), std::io::Error> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(contents).await?;
    file.sync_all().await
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish (bounded by the grace
/// period). Accepted sockets get `TCP_NODELAY`: without it, kept-alive clients stall ~40 ms on
/// Nagle + delayed ACK.
pub async fn serve(
    router: axum::Router,
    listener: TcpListener,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (drain_started_tx, drain_started_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = drain_started_tx.send(());
        });
    tokio::select! {
        result = server => result,
        _ = async {
            let _ = drain_started_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("shutdown grace period elapsed with requests still in flight");
            Ok(())
        }
    }
}
