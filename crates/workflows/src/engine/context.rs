//! Builds the expression context of a step instance from the run and its step instances:
//! outer scopes first, so a step inside a block sees its own block's `steps.X` first. What a
//! definition's expressions read from outside the run (`secrets`, `env`) is found here too.

use auterity_types::workflow_records::{RunRecord, StepRecord, step_status};
use serde_json::{Value, json};

use super::keys::{Scope, parse_key};
use crate::definition::{ExprForm, WorkflowDefinition};
use crate::expr::{EvalContext, Expression, References, Template, ValueTemplate};

/// Everything the definition's expressions read (steps at any depth and the output): which
/// secrets, and whether `env`.
pub fn definition_references(definition: &WorkflowDefinition) -> References {
    let mut all = References::default();
    for step in definition.all_steps() {
        for site in step.expression_sites() {
            let references = match site.form {
                ExprForm::Expression => Expression::compile(site.source).map(|e| e.references().clone()),
                ExprForm::Template => Template::parse(site.source).map(|t| t.references()),
            };
            if let Ok(references) = references {
                all.merge(&references);
            }
        }
    }
    if let Some(output) = &definition.output
        && let Ok(template) = ValueTemplate::compile(output)
    {
        all.merge(&template.references());
    }
    all
}

pub fn build(run: &RunRecord, steps: &[StepRecord], key: &str) -> EvalContext {
    let mut context = EvalContext::new(run.inputs.clone());
    context.run = json!({
        "id": run.id,
        "workflow_id": run.workflow_id,
        "version": run.version,
        "correlation_id": run.correlation_id,
        "started_at": run.started_at.map(|t| t.to_rfc3339()),
    });
    // The chain of scopes from the top to the key's own.
    let mut scopes = Vec::new();
    let mut current = key.to_owned();
    loop {
        let (scope, _) = parse_key(&current);
        match scope.container_key().map(str::to_owned) {
            Some(container) => {
                scopes.push(scope);
                current = container;
            }
            None => break,
        }
    }
    scopes.push(Scope::Top);
    scopes.reverse();
    for scope in &scopes {
        let prefix = scope.prefix();
        for step in steps {
            let finished =
                matches!(step.status.as_str(), step_status::COMPLETED | step_status::FAILED | step_status::SKIPPED);
            if !finished || step.step_key.ends_with(super::keys::JOIN_SUFFIX) {
                continue;
            }
            if let Some(rest) = step.step_key.strip_prefix(&prefix)
                && !rest.contains('/')
            {
                context.set_step(rest, &step.status, step.output.clone().unwrap_or(Value::Null), step.error.clone());
            }
        }
        if let Scope::Item { container_key, index } = scope {
            let item = steps
                .iter()
                .find(|s| s.step_key == *container_key)
                .and_then(|s| s.output.as_ref())
                .and_then(|o| o.get("items"))
                .and_then(|items| items.get(*index))
                .cloned();
            context.item = item;
            context.index = Some(*index as u64);
        }
    }
    context
}
