//! `auterity workflow run FILE|NAME --input k=v`: runs a workflow in this process's engine and
//! prints the finished run. Dispatches the other `workflow` subcommands.

use anyhow::{Context, anyhow, bail};
use auterity_config::{Config, Role};
use auterity_store::OrgScope;
use auterity_types::access::roles;
use auterity_types::records::PageRequest;
use auterity_types::workflow_records::run_status;
use auterity_workflows::engine::service::{StartRun, WorkflowError};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

use crate::cli::WorkflowCommand;
use crate::out;

pub async fn run(config: Config, command: &WorkflowCommand) -> anyhow::Result<()> {
    match command {
        WorkflowCommand::Run { target, inputs, org, timeout_secs, priority } => {
            run_workflow(config, target, inputs, org.as_deref(), *priority, *timeout_secs).await
        }
        WorkflowCommand::Templates { category } => {
            crate::templates::list(category.as_deref());
            Ok(())
        }
        WorkflowCommand::Variable { command, org } => crate::variables::run(config, command, org.as_deref()).await,
        WorkflowCommand::FromTemplate { id, name, org } => {
            crate::templates::instantiate(config, id, name.as_deref(), org.as_deref()).await
        }
    }
}

async fn run_workflow(
    mut config: Config,
    target: &str,
    inputs: &[String],
    org: Option<&str>,
    priority: i32,
    timeout_secs: u64,
) -> anyhow::Result<()> {
    if !config.roles.contains(&Role::Worker) {
        config.roles.push(Role::Worker);
    }
    let platform = auterity_api::Platform::start(config).await.context("failed to open the platform")?;
    let result = execute(&platform, target, inputs, org, priority, Duration::from_secs(timeout_secs)).await;
    platform.stop().await;
    let run = result?;
    out(&serde_json::to_string_pretty(&run)?);
    if run["status"] != run_status::COMPLETED {
        bail!("run {} ended {}", run["id"], run["status"]);
    }
    Ok(())
}

/// A command-line value: JSON when it parses (`80`, `true`, `["a"]`), else the text itself.
pub(crate) fn json_or_string(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

pub(crate) fn describe(error: WorkflowError) -> anyhow::Error {
    match error {
        WorkflowError::Invalid(errors) => {
            anyhow!(errors.iter().map(|e| format!("{}: {}", e.pointer, e.detail)).collect::<Vec<_>>().join("; "))
        }
        other => anyhow!(other.to_string()),
    }
}

/// The organization (by slug, else the default one) and who acts for the local operator: its
/// first active administrator, since workflows and runs need an owner.
pub(crate) async fn operator(
    platform: &auterity_api::Platform,
    org: Option<&str>,
) -> anyhow::Result<(auterity_types::OrgId, auterity_types::UserId)> {
    let state = &platform.state;
    let org_id = match org {
        Some(slug) => {
            state.store.orgs.get_org_by_slug(slug).await?.ok_or_else(|| anyhow!("no organization {slug:?}"))?.id
        }
        None => state.default_org,
    };
    let users = state.store.users.list_users(OrgScope(org_id), PageRequest::first(PageRequest::MAX_LIMIT)).await?;
    let operator = users
        .iter()
        .find(|u| u.is_active && u.roles.iter().any(|r| r == roles::SUPERADMIN || r == roles::ADMIN))
        .ok_or_else(|| anyhow!("the organization has no active administrator to run as"))?
        .id;
    Ok((org_id, operator))
}

async fn execute(
    platform: &auterity_api::Platform,
    target: &str,
    inputs: &[String],
    org: Option<&str>,
    priority: i32,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let state = &platform.state;
    let (org_id, operator) = operator(platform, org).await?;

    let path = std::path::Path::new(target);
    let workflow_id = if path.exists() {
        let text = tokio::fs::read_to_string(path).await.with_context(|| format!("failed to read {target}"))?;
        let definition: Value = serde_json::from_str(&text).with_context(|| format!("{target} is not JSON"))?;
        let name = definition["name"].as_str().ok_or_else(|| anyhow!("{target}: the definition has no name"))?;
        match state.store.workflows.get_workflow_by_name(OrgScope(org_id), name).await? {
            Some(existing) if existing.definition == definition => existing.id,
            Some(existing) => {
                state.workflows.update(org_id, operator, existing.id, definition).await.map_err(describe)?.workflow.id
            }
            None => state.workflows.create(org_id, operator, definition).await.map_err(describe)?.workflow.id,
        }
    } else {
        state
            .store
            .workflows
            .get_workflow_by_name(OrgScope(org_id), target)
            .await?
            .ok_or_else(|| anyhow!("{target:?} is neither a file nor a stored workflow"))?
            .id
    };

    let mut input_map = Map::new();
    for pair in inputs {
        let (name, value) = pair.split_once('=').ok_or_else(|| anyhow!("--input expects name=value, got {pair:?}"))?;
        input_map.insert(name.to_owned(), json_or_string(value));
    }
    let request = StartRun { inputs: Value::Object(input_map), trigger: "manual".into(), priority };
    let run = state.workflows.start(org_id, operator, workflow_id, request).await.map_err(describe)?;

    let deadline = Instant::now() + timeout;
    loop {
        let (run, steps, _) = state.workflows.run(org_id, run.id).await.map_err(describe)?;
        if run_status::TERMINAL.contains(&run.status.as_str()) {
            return Ok(json!({
                "id": run.id,
                "status": run.status,
                "output": run.output,
                "error": run.error,
                "steps": steps.iter().map(|s| json!({"key": s.step_key, "status": s.status, "attempt": s.attempt})).collect::<Vec<_>>(),
            }));
        }
        if Instant::now() > deadline {
            bail!("run {} still {} after {} s; it continues in the database", run.id, run.status, timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
