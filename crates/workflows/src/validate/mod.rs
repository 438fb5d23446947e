//! Validation of a definition, reporting every problem with a JSON pointer (RFC 6901) into the
//! definition document. Two phases: shape (the JSON Schema, then durations), and, once the shape
//! is right, meaning (graph, expressions, input schemas, cross-field rules). A definition that
//! fails either is never stored.

mod expressions;
mod graph;
mod inputs;
mod shape;
mod triggers;

use auterity_types::error::FieldError;
use serde_json::Value;

use crate::definition::{ResponseFormat, StepKind, WorkflowDefinition};

pub use inputs::{InputSchemas, validate_inputs};

/// Validates a definition document and returns its typed form.
pub fn validate(definition_json: &Value) -> Result<WorkflowDefinition, Vec<FieldError>> {
    let errors = shape::schema_errors(definition_json);
    if !errors.is_empty() {
        return Err(errors);
    }
    let errors = shape::duration_errors(definition_json);
    if !errors.is_empty() {
        return Err(errors);
    }
    let definition: WorkflowDefinition = serde_json::from_value(definition_json.clone())
        .map_err(|error| vec![FieldError::new("", format!("does not match the workflow format: {error}"))])?;
    let mut errors = Vec::new();
    let graph = graph::Graph::build(&definition, &mut errors);
    expressions::check_expressions(&definition, &graph, &mut errors);
    inputs::check_input_declarations(&definition, &mut errors);
    triggers::check_triggers(&definition, &mut errors);
    triggers::check_flow(&definition, &mut errors);
    for node in &graph.nodes {
        check_step_rules(&definition, node.step, &node.pointer, &mut errors);
    }
    let errors = shape::dedupe(errors);
    if errors.is_empty() { Ok(definition) } else { Err(errors) }
}

/// Rules across fields of one step that the schema leaves out to keep its errors precise.
fn check_step_rules(definition: &WorkflowDefinition, step: &crate::Step, pointer: &str, errors: &mut Vec<FieldError>) {
    if let Some(retry) = &step.retry
        && retry.initial_backoff > retry.max_backoff
    {
        errors.push(FieldError::new(format!("{pointer}/retry/initial_backoff"), "must not exceed max_backoff"));
    }
    match &step.kind {
        StepKind::Ai(ai) => {
            if ai.prompt.is_some() && ai.messages.is_some() {
                errors.push(FieldError::new(format!("{pointer}/messages"), "use either prompt or messages, not both"));
            }
            if let Some(ResponseFormat::JsonSchema { json_schema }) = &ai.response_format {
                inputs::check_schema(json_schema, &format!("{pointer}/response_format/json_schema"), errors);
            }
        }
        StepKind::Delay(delay) if delay.duration.is_some() && delay.until.is_some() => {
            errors.push(FieldError::new(format!("{pointer}/until"), "use either duration or until, not both"));
        }
        StepKind::Parallel(parallel) => {
            for (index, branch) in parallel.branches.iter().enumerate() {
                if parallel.branches[..index].iter().any(|earlier| earlier.name == branch.name) {
                    errors.push(FieldError::new(
                        format!("{pointer}/branches/{index}/name"),
                        format!("duplicate branch name '{}'", branch.name),
                    ));
                }
            }
        }
        StepKind::Subworkflow(sub) if sub.workflow == definition.name => {
            errors.push(FieldError::new(format!("{pointer}/workflow"), "a workflow cannot call itself"));
        }
        _ => {}
    }
}
