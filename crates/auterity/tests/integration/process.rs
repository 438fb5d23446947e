//! Spawning and stopping the built binary.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_EMAIL: &str = "root@example.test";
pub const ADMIN_PASSWORD: &str = "R00t!correct-horse";
pub const MASTER_KEY: &str = "dGVzdC1tYXN0ZXIta2V5LW5vdC1mb3ItcHJvZC11c2U=";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Everything a process needs to find the same data again after a restart.
pub struct Instance {
    pub data_dir: PathBuf,
    pub db: Db,
    pub schema: String,
    pub extra: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The schema this instance named; dropped with it unless `schema` was pointed elsewhere (an
    /// instance sharing another's data leaves it to the owner).
    own_schema: String,
}

impl Instance {
    pub fn new(dir: &Path, db: Db) -> Self {
        let schema = format!("bin_{}", uuid::Uuid::now_v7().simple());
        Self {
            data_dir: dir.to_path_buf(),
            db,
            schema: schema.clone(),
            extra: Vec::new(),
            env: Vec::new(),
            own_schema: schema,
        }
    }

    /// Drops the instance's PostgreSQL schema, on a thread of its own (the caller may be inside a
    /// runtime).
    fn drop_schema(&self) {
        if self.db != Db::Postgres || self.schema != self.own_schema {
            return;
        }
        let schema = self.schema.clone();
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(auterity_testkit::drop_schema(&auterity_testkit::test_database_url(), &schema));
        });
        let _ = dropped.join();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_auterity"));
        command
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra)
            .env("AUTERITY_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("AUTERITY_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("AUTERITY_MASTER_KEY", MASTER_KEY)
            .env("AUTERITY_AUTH__ARGON2_MEMORY_KIB", "1024")
            .env("AUTERITY_AUTH__ARGON2_ITERATIONS", "1")
            .env("AUTERITY_LOG_LEVEL", "warn")
            .current_dir(&self.data_dir);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        if self.db == Db::Postgres {
            command
                .arg("--database-url")
                .arg(auterity_testkit::test_database_url())
                .env("AUTERITY_STORAGE__DATABASE_SCHEMA", &self.schema);
        }
        command
    }

    /// Runs a one-shot subcommand.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().expect("run auterity")
    }

    /// Starts `serve` on a free port and waits until /health answers.
    pub async fn serve(&self) -> Server {
        let port = free_port();
        let mut child = self
            .command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn auterity serve");
        let base_url = format!("http://127.0.0.1:{port}");
        // reqwest's rustls needs the process-wide aws-lc-rs provider before any client is built.
        auterity_workflows::outbound::install_crypto_provider();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(format!("{base_url}/health")).send().await
                && response.status() == 200
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let output = child.wait_with_output().unwrap();
                panic!("server exited early with {status}: {}", String::from_utf8_lossy(&output.stderr));
            }
            assert!(started.elapsed() < Duration::from_secs(30), "server did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child: Some(child), base_url, client }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `auterity serve`. Dropped without [`Server::kill_9`] or [`Server::terminate`] (a
/// failing test), it is killed, so no process outlives its test holding database connections.
pub struct Server {
    child: Option<Child>,
    pub base_url: String,
    pub client: reqwest::Client,
}

impl Server {
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) =
            self.call("POST", "/api/auth/login", None, Some(json!({"email": email, "password": password}))).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then the exit status and stderr.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.drop_schema();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
