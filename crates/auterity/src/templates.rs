//! `auterity workflow templates` (list the shipped templates) and `auterity workflow
//! from-template ID [--name NAME]` (create a workflow from one in the database).

use anyhow::{Context, anyhow};
use auterity_config::Config;
use auterity_workflows::templates;

use crate::out;
use crate::workflows::{describe, operator};

/// One line per template: id, category, title.
pub fn list(category: Option<&str>) {
    let width = templates::all().iter().map(|t| t.id.len()).max().unwrap_or(0);
    for template in templates::page(category, None, usize::MAX) {
        out(&format!("{:width$}  {:11}  {}", template.id, template.category, template.title));
    }
}

pub async fn instantiate(config: Config, id: &str, name: Option<&str>, org: Option<&str>) -> anyhow::Result<()> {
    if templates::get(id).is_none() {
        return Err(anyhow!("no template {id:?}; `auterity workflow templates` lists them"));
    }
    let platform = auterity_api::Platform::start(config).await.context("failed to open the platform")?;
    let result = async {
        let (org_id, user) = operator(&platform, org).await?;
        platform.state.workflows.create_from_template(org_id, user, id, name).await.map_err(describe)
    }
    .await;
    platform.stop().await;
    let workflow = result?.workflow;
    out(&format!("created workflow {} ({}) from template {id}", workflow.name, workflow.id));
    Ok(())
}
