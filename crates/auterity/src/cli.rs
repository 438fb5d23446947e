//! Command-line shape of `auterity`.

use auterity_config::{Config, FlagOverrides, Role};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "auterity", version, about = "Auterity: unified AI platform for workflow automation")]
pub struct Cli {
    #[command(flatten)]
    pub flags: GlobalFlags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct GlobalFlags {
    /// Configuration file (default: ./auterity.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, global = true)]
    pub listen: Option<String>,
    /// Directory for the embedded database and generated keys.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://…
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    #[arg(long, global = true)]
    pub redis_url: Option<String>,
    #[arg(long, global = true)]
    pub nats_url: Option<String>,
    /// Roles this process plays: api, worker, trainer (comma-separated).
    #[arg(long, global = true, value_delimiter = ',')]
    pub roles: Option<Vec<String>>,
    /// OTLP/HTTP endpoint for traces, e.g. http://127.0.0.1:4318.
    #[arg(long, global = true)]
    pub otlp_endpoint: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the platform.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users directly in the database.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Run workflows.
    Workflow {
        #[command(subcommand)]
        command: WorkflowCommand,
    },
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Run a workflow and wait for it: `auterity workflow run lead.json --input score=80`.
    /// FILE is a definition (stored, or stored as a new version when it changed); NAME a stored workflow.
    Run {
        target: String,
        /// `name=value`; the value is read as JSON when it parses, else as a string (repeatable).
        #[arg(long = "input")]
        inputs: Vec<String>,
        /// Organization slug (default: the default organization).
        #[arg(long)]
        org: Option<String>,
        /// Give up waiting after this many seconds (the run continues in the database).
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
        /// Run priority: with flow limits, higher-priority pending runs are admitted first.
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        priority: i32,
    },
    /// List the shipped workflow templates: `auterity workflow templates --category dealership`.
    Templates {
        #[arg(long)]
        category: Option<String>,
    },
    /// The organization's workflow variables (`env.NAME` in expressions):
    /// `auterity workflow variable set crm_url https://crm.example/api`.
    Variable {
        #[command(subcommand)]
        command: VariableCommand,
        /// Organization slug (default: the default organization).
        #[arg(long, global = true)]
        org: Option<String>,
    },
    /// Create a workflow from a template: `auterity workflow from-template dms-inventory-sync --name nightly-sync`.
    FromTemplate {
        /// Template id (see `auterity workflow templates`).
        id: String,
        /// Name of the new workflow (default: the template id).
        #[arg(long)]
        name: Option<String>,
        /// Organization slug (default: the default organization).
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum VariableCommand {
    /// Print every variable as one JSON object of name → value.
    List,
    /// Create or replace a variable; VALUE is read as JSON when it parses, else as a string.
    Set { name: String, value: String },
    /// Delete a variable.
    Unset { name: String },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration with secrets redacted.
    Show,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// The password (or set AUTERITY_USER_PASSWORD).
        #[arg(long, env = "AUTERITY_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Roles: admin, member, superadmin (repeatable).
        #[arg(long = "role", id = "user_role")]
        user_roles: Vec<String>,
        /// Grants like autmatrix:write (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Organization slug (default: the default organization).
        #[arg(long)]
        org: Option<String>,
    },
    /// List users of an organization.
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Grant access: `auterity user grant alice relaycore:write`.
    Grant { user: String, access: String },
    /// Revoke a system: `auterity user revoke alice relaycore`.
    Revoke { user: String, system: String },
    /// Disable a user and end every session.
    Disable { user: String },
}

impl Cli {
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let roles = match &self.flags.roles {
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| match name.trim() {
                        "api" => Ok(Role::Api),
                        "worker" => Ok(Role::Worker),
                        "trainer" => Ok(Role::Trainer),
                        other => Err(anyhow::anyhow!("unknown role {other:?}; use api, worker, trainer")),
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
            ),
            None => None,
        };
        let flags = FlagOverrides {
            listen: self.flags.listen.clone(),
            data_dir: self.flags.data_dir.clone(),
            database_url: self.flags.database_url.clone(),
            redis_url: self.flags.redis_url.clone(),
            nats_url: self.flags.nats_url.clone(),
            roles,
            otlp_endpoint: self.flags.otlp_endpoint.clone(),
        };
        Ok(auterity_config::load(self.flags.config.as_deref(), &flags)?)
    }
}
