//! Trigger checks: unique ids, cron patterns and time zones that parse, cron inputs that match
//! the declared inputs, event filters/input templates that compile and read only `event`, and a
//! flow-control key that compiles and reads only `inputs`.

use std::collections::BTreeSet;

use auterity_types::error::FieldError;

use crate::definition::{TriggerKind, WorkflowDefinition};
use crate::expr::{Expression, References, ValueTemplate};
use crate::triggers::schedule::{CronSchedule, ScheduleError};

pub(super) fn check_triggers(definition: &WorkflowDefinition, errors: &mut Vec<FieldError>) {
    let mut ids = BTreeSet::new();
    for (index, trigger) in definition.triggers.iter().enumerate() {
        let pointer = format!("/triggers/{index}");
        if !ids.insert(trigger.id.as_str()) {
            errors.push(FieldError::new(format!("{pointer}/id"), format!("duplicate trigger id '{}'", trigger.id)));
        }
        match &trigger.kind {
            TriggerKind::Webhook {} => {}
            TriggerKind::Cron { schedule, timezone, inputs } => {
                match CronSchedule::parse(schedule, timezone.as_deref()) {
                    Ok(_) => {}
                    Err(error @ ScheduleError::Pattern(_)) => {
                        errors.push(FieldError::new(format!("{pointer}/schedule"), error.to_string()));
                    }
                    Err(error @ ScheduleError::TimeZone(_)) => {
                        errors.push(FieldError::new(format!("{pointer}/timezone"), error.to_string()));
                    }
                }
                let inputs = inputs.clone().unwrap_or(serde_json::Value::Null);
                if let Err(problems) = crate::validate_inputs(definition, &inputs) {
                    errors.extend(
                        problems.into_iter().map(|e| FieldError::new(format!("{pointer}{}", e.pointer), e.detail)),
                    );
                }
            }
            TriggerKind::Event { filter, inputs, .. } => {
                if let Some(filter) = filter {
                    match Expression::compile(filter) {
                        Ok(expression) => only_event(expression.references(), &format!("{pointer}/filter"), errors),
                        Err(error) => errors.push(FieldError::new(format!("{pointer}/filter"), error.to_string())),
                    }
                }
                if let Some(inputs) = inputs {
                    match ValueTemplate::compile(inputs) {
                        Ok(template) => only_event(&template.references(), &format!("{pointer}/inputs"), errors),
                        Err(error) => errors.push(FieldError::new(format!("{pointer}/inputs"), error.to_string())),
                    }
                }
            }
        }
    }
}

pub(super) fn check_flow(definition: &WorkflowDefinition, errors: &mut Vec<FieldError>) {
    let Some(key) = definition.flow.as_ref().and_then(|flow| flow.key.as_deref()) else { return };
    match Expression::compile(key) {
        Ok(expression) => {
            for variable in expression.references().variables.iter().filter(|v| v.as_str() != "inputs") {
                errors.push(FieldError::new(
                    "/flow/key",
                    format!("'{variable}' is not available here: the key reads only 'inputs'"),
                ));
            }
            for input in &expression.references().inputs {
                if !definition.inputs.contains_key(input) {
                    errors.push(FieldError::new("/flow/key", format!("input '{input}' is not declared")));
                }
            }
        }
        Err(error) => errors.push(FieldError::new("/flow/key", error.to_string())),
    }
}

fn only_event(references: &References, pointer: &str, errors: &mut Vec<FieldError>) {
    for variable in references.variables.iter().filter(|v| v.as_str() != "event") {
        errors.push(FieldError::new(
            pointer,
            format!("'{variable}' is not available here: an event trigger reads only 'event'"),
        ));
    }
}
