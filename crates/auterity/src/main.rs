//! The `auterity` binary: clap subcommands and wiring only.

mod cli;
mod malloc;
mod templates;
mod users;
mod variables;
mod workflows;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, ConfigCommand};

fn main() -> anyhow::Result<()> {
    malloc::ensure_fixed_mmap_threshold();
    let cli = Cli::parse();
    // Before anything builds a reqwest client (OTLP exporter, outbound calls): rustls' provider.
    auterity_workflows::outbound::install_crypto_provider();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("failed to start the runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Version => {
            out(&format!("auterity {}", env!("CARGO_PKG_VERSION")));
            Ok(())
        }
        Command::Config { command: ConfigCommand::Show } => {
            let config = cli.load_config()?;
            out(&toml::to_string_pretty(&config).context("failed to render the configuration")?);
            Ok(())
        }
        Command::Migrate => {
            let config = cli.load_config()?;
            let _guard = auterity_telemetry::init_logging(&config.telemetry)?;
            tokio::fs::create_dir_all(&config.storage.data_dir).await?;
            let store = auterity_store::Store::connect(&auterity_store::StoreOptions {
                database_url: config.storage.effective_database_url(),
                max_connections: 2,
                pg_schema: config.storage.database_schema.clone(),
            })
            .await?;
            store.migrate().await?;
            out(&format!("migrations applied ({})", store.backend()));
            store.close().await;
            Ok(())
        }
        Command::Serve => serve(cli.load_config()?).await,
        Command::User { command } => users::run(cli.load_config()?, command).await,
        Command::Workflow { command } => workflows::run(cli.load_config()?, command).await,
    }
}

async fn serve(config: auterity_config::Config) -> anyhow::Result<()> {
    let _telemetry = auterity_telemetry::init_logging(&config.telemetry)?;
    auterity_telemetry::metrics_handle();
    let listen = config.server.listen.clone();
    let grace = std::time::Duration::from_secs(config.server.shutdown_grace_secs);
    let platform = auterity_api::Platform::start(config).await.context("failed to start")?;
    if let Some(password) = &platform.bootstrap.generated_password {
        // Printed once, on first start only; it is not stored anywhere in clear.
        out(&format!(
            "\nFirst start: created administrator {} with password\n\n    {password}\n\nSign in and change it (POST /api/auth/password). It will not be shown again.\n",
            platform.bootstrap.admin_email.as_deref().unwrap_or_default()
        ));
    }
    let shutdown = shutdown_signal();
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("failed to listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, backend = %platform.state.store.backend(), "auterity listening");
    auterity_api::serve(platform.router(), listener, grace, shutdown).await?;
    tracing::info!("draining background tasks");
    platform.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled (axum polls it from a task of its own, which may run only after the
/// first requests were answered), so a signal that arrives once the server answers is never
/// handled by the default action (exit without draining).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let (interrupt, terminate) = signals;
            tokio::select! {
                _ = received(interrupt) => {}
                _ = received(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}

/// Waits for the signal, or forever if its handler could not be installed.
#[cfg(unix)]
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// The CLI's own output goes to stdout; logs go to stderr.
#[expect(clippy::print_stdout, reason = "the CLI prints its results")]
pub(crate) fn out(text: &str) {
    println!("{text}");
}
