//! Test kit: starts the real platform on `127.0.0.1:0` over a temporary SQLite database or a fresh
//! PostgreSQL schema, and offers an HTTP client with the helpers tests keep needing.

#![expect(clippy::expect_used, reason = "a test kit fails the test loudly")]

use auterity_config::{Config, Secret};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::task::JoinHandle;

pub const ADMIN_EMAIL: &str = "admin@example.test";
pub const ADMIN_PASSWORD: &str = "Adm1n!correct-horse";
/// Base64 of 32 bytes; tests that forge tokens derive the signing key from it.
pub const TEST_MASTER_KEY: &str = "dGVzdC1tYXN0ZXIta2V5LW5vdC1mb3ItcHJvZC11c2U=";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use (CI sets it; the default is the local one).
pub fn test_database_url() -> String {
    std::env::var("AUTERITY_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn test_redis_url() -> String {
    std::env::var("AUTERITY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn test_nats_url() -> String {
    std::env::var("AUTERITY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A configuration for one test: its own data dir, database (file or schema) and Redis prefix,
/// cheap argon2 parameters, and a fixed admin.
pub fn test_config(backend: Backend, data_dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".to_owned();
    config.storage.data_dir = data_dir.to_path_buf();
    config.storage.max_connections = Some(8);
    let unique = uuid::Uuid::now_v7().simple().to_string();
    config.storage.redis_key_prefix = format!("test:{unique}:");
    if backend == Backend::Postgres {
        config.storage.database_url = Some(Secret::new(test_database_url()));
        config.storage.database_schema = Some(format!("t_{unique}"));
    }
    config.auth.master_key = Some(Secret::new(TEST_MASTER_KEY));
    config.auth.admin_email = Some(ADMIN_EMAIL.to_owned());
    config.auth.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    config.auth.argon2_memory_kib = 64;
    config.auth.argon2_iterations = 1;
    config.telemetry.log_level = "warn".to_owned();
    config
}

pub struct TestServer {
    pub base_url: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub backend: Backend,
    pub state: auterity_api::AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<JoinHandle<Option<auterity_api::Platform>>>,
    dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(backend, dir.path());
        adjust(&mut config);
        Self::start_config(backend, config, Some(dir)).await
    }

    /// Starts on an explicit configuration (e.g. to restart over the same data).
    pub async fn start_config(backend: Backend, config: Config, dir: Option<tempfile::TempDir>) -> Self {
        auterity_telemetry_init();
        let platform = auterity_api::Platform::start(config.clone()).await.expect("platform starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local addr");
        let router = platform.router();
        let state = platform.state.clone();
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let grace = Duration::from_secs(5);
            let _ = auterity_api::serve(router, listener, grace, async move {
                let _ = shutdown_rx.await;
            })
            .await;
            Some(platform)
        });
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        Self {
            base_url: format!("http://{address}"),
            client,
            config,
            backend,
            state,
            shutdown: Some(shutdown),
            server: Some(server),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops gracefully and hands back the data directory (to restart over it).
    pub async fn stop(mut self) -> (Config, Option<tempfile::TempDir>) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take()
            && let Ok(Some(platform)) = server.await
        {
            platform.stop().await;
        }
        (self.config.clone(), self.dir.take())
    }

    /// Stops gracefully at the end of a test and drops its PostgreSQL schema (best effort: the
    /// store's tests sweep what is left over an hour later).
    pub async fn finish(self) {
        let (config, _dir) = self.stop().await;
        if let (Some(url), Some(schema)) = (&config.storage.database_url, &config.storage.database_schema) {
            drop_schema(url.expose(), schema).await;
        }
    }

    pub async fn login(&self, login: &str, password: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": login, "password": password}))
            .send()
            .await
            .expect("login request");
        let status = response.status();
        let body: Value = response.json().await.expect("login body");
        assert_eq!(status, 200, "login failed: {body}");
        body
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"].as_str().expect("token").to_owned()
    }

    /// Sends a request with an optional bearer token and JSON body; answers status and JSON body
    /// (`Value::Null` for an empty body).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        (status, value)
    }

    /// Creates a user through the admin API and answers its id.
    pub async fn create_user(&self, admin_token: &str, email: &str, username: &str, systems: Value) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/auth/users",
                Some(admin_token),
                Some(json!({"email": email, "username": username, "password": user_password(), "systems": systems})),
            )
            .await;
        assert_eq!(status, 201, "create user failed: {body}");
        body["id"].as_str().expect("id").to_owned()
    }
}

/// A password every test user gets: passes the default policy.
pub fn user_password() -> &'static str {
    "Tr1cky-Lantern-Orbit"
}

fn auterity_telemetry_init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = auterity_telemetry::metrics_handle();
        // The server's warnings go to the test's captured output, which the runner shows when the
        // test fails (`RUST_LOG` widens it).
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// Drops a test's PostgreSQL schema (`t_` or `bin_` and a UUID, so a plain identifier); errors
/// are ignored.
pub async fn drop_schema(url: &str, schema: &str) {
    use sqlx::{Connection, Executor};
    let test_schema = schema.starts_with("t_") || schema.starts_with("bin_");
    if !test_schema || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return;
    }
    let Ok(mut conn) = sqlx::PgConnection::connect(url).await else { return };
    let _ = conn.execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str()).await;
    let _ = conn.close().await;
}
