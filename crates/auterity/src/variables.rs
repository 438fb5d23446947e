//! `auterity workflow variable list|set|unset`: the organization's workflow variables (`env.NAME`
//! in expressions), written through the same service as the API, so validation and the audit log
//! are the same.

use anyhow::{Context, anyhow};
use auterity_config::Config;
use auterity_workflows::variables::VariableError;
use serde_json::Value;

use crate::cli::VariableCommand;
use crate::out;
use crate::workflows::{json_or_string, operator};

pub async fn run(config: Config, command: &VariableCommand, org: Option<&str>) -> anyhow::Result<()> {
    let platform = auterity_api::Platform::start(config).await.context("failed to open the platform")?;
    let result = execute(&platform, command, org).await;
    platform.stop().await;
    out(&result?);
    Ok(())
}

async fn execute(
    platform: &auterity_api::Platform,
    command: &VariableCommand,
    org: Option<&str>,
) -> anyhow::Result<String> {
    let (org_id, user) = operator(platform, org).await?;
    let variables = &platform.state.variables;
    match command {
        VariableCommand::List => {
            let all = auterity_workflows::variables::env(&platform.state.store, org_id).await?;
            Ok(serde_json::to_string_pretty(&Value::Object(all))?)
        }
        VariableCommand::Set { name, value } => {
            let (variable, created) =
                variables.put(org_id, Some(user), name, json_or_string(value)).await.map_err(describe)?;
            let verb = if created { "created" } else { "replaced" };
            Ok(format!("{verb} variable {} = {}", variable.name, variable.value))
        }
        VariableCommand::Unset { name } => {
            variables.delete(org_id, Some(user), name).await.map_err(describe)?;
            Ok(format!("deleted variable {name}"))
        }
    }
}

fn describe(error: VariableError) -> anyhow::Error {
    match error {
        VariableError::Validation(errors) => {
            anyhow!(errors.iter().map(|e| format!("{}: {}", e.pointer, e.detail)).collect::<Vec<_>>().join("; "))
        }
        VariableError::NotFound => anyhow!("no such variable"),
        other => anyhow!(other.to_string()),
    }
}
