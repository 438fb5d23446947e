//! The first validation phase: the document against the published JSON Schema, and the
//! durations (whose limits a regular expression cannot state), both on the raw JSON so each
//! problem keeps its pointer.

use auterity_types::error::FieldError;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::definition::escape_token;
use crate::duration::WorkflowDuration;

/// Every schema violation, one [`FieldError`] per problem, with the pointer of the offending
/// member (a missing or unknown property points at the property, not at its object).
pub(super) fn schema_errors(definition: &Value) -> Vec<FieldError> {
    let validator = match crate::schema::validator() {
        Ok(validator) => validator,
        Err(error) => return vec![FieldError::new("", format!("workflow schema is broken: {error}"))],
    };
    let mut errors = Vec::new();
    for error in validator.iter_errors(definition) {
        let pointer = error.instance_path().as_str().to_owned();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for property in unexpected {
                    errors.push(FieldError::new(
                        format!("{pointer}/{}", escape_token(property)),
                        format!("unknown property '{property}'"),
                    ));
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                errors.push(FieldError::new(
                    format!("{pointer}/{}", escape_token(name)),
                    format!("missing required property '{name}'"),
                ));
            }
            ValidationErrorKind::FalseSchema => {
                errors.push(FieldError::new(pointer, "property not allowed here"));
            }
            ValidationErrorKind::PropertyNames { error: inner } => {
                let name = inner.instance().as_str().unwrap_or_default().to_owned();
                let detail = match inner.kind() {
                    ValidationErrorKind::Pattern { pattern } => pattern_detail(pattern, &name),
                    _ => inner.to_string(),
                };
                errors.push(FieldError::new(
                    format!("{pointer}/{}", escape_token(&name)),
                    format!("invalid name: {detail}"),
                ));
            }
            ValidationErrorKind::Pattern { pattern } => {
                let text = error.instance().as_str().unwrap_or_default();
                errors.push(FieldError::new(pointer, pattern_detail(pattern, text)));
            }
            _ => errors.push(FieldError::new(pointer, error.to_string())),
        }
    }
    dedupe(errors)
}

/// Our own patterns, said in words.
fn pattern_detail(pattern: &str, text: &str) -> String {
    if pattern == crate::schema::IDENTIFIER_PATTERN {
        return "must start with a letter or '_' and continue with letters, digits or '_' (at most 64)".to_owned();
    }
    if pattern == crate::schema::DURATION_PATTERN {
        let reason = WorkflowDuration::parse(text).err().unwrap_or(crate::duration::DurationError::Syntax);
        return reason.to_string();
    }
    if pattern == crate::schema::WORKFLOW_NAME_PATTERN {
        return "must be 1–100 letters, digits, '_', '.' or '-', starting with a letter or digit".to_owned();
    }
    format!("{text:?} does not match {pattern:?}")
}

/// Removes exact repeats (the same problem reached through two schema paths).
pub(super) fn dedupe(errors: Vec<FieldError>) -> Vec<FieldError> {
    let mut seen = std::collections::HashSet::new();
    errors.into_iter().filter(|error| seen.insert((error.pointer.clone(), error.detail.clone()))).collect()
}

/// Parses every duration field (definition `timeout`; step `timeout`, `retry.initial_backoff`,
/// `retry.max_backoff`, `delay.duration`), nested steps included.
pub(super) fn duration_errors(definition: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_duration(definition.get("timeout"), "/timeout", &mut errors);
    check_steps(definition.get("steps"), "", &mut errors);
    errors
}

fn check_steps(steps: Option<&Value>, prefix: &str, errors: &mut Vec<FieldError>) {
    let Some(Value::Array(steps)) = steps else { return };
    for (index, step) in steps.iter().enumerate() {
        let pointer = format!("{prefix}/steps/{index}");
        check_duration(step.get("timeout"), &format!("{pointer}/timeout"), errors);
        check_duration(step.get("duration"), &format!("{pointer}/duration"), errors);
        if let Some(retry) = step.get("retry") {
            check_duration(retry.get("initial_backoff"), &format!("{pointer}/retry/initial_backoff"), errors);
            check_duration(retry.get("max_backoff"), &format!("{pointer}/retry/max_backoff"), errors);
        }
        check_steps(step.get("steps"), &pointer, errors);
        if let Some(Value::Array(branches)) = step.get("branches") {
            for (branch_index, branch) in branches.iter().enumerate() {
                check_steps(branch.get("steps"), &format!("{pointer}/branches/{branch_index}"), errors);
            }
        }
    }
}

fn check_duration(value: Option<&Value>, pointer: &str, errors: &mut Vec<FieldError>) {
    if let Some(Value::String(text)) = value
        && let Err(error) = WorkflowDuration::parse(text)
    {
        errors.push(FieldError::new(pointer, error.to_string()));
    }
}
