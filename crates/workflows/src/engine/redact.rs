//! Secrets in, `[redacted]` out: the secrets a run's expressions read are loaded for each
//! evaluation, and every transition is scrubbed of their values before it is committed, so no
//! step output, error, attempt record, run output or event ever stores one (an `http` target that
//! echoes a token back leaves `[redacted]` in the run history).

use auterity_types::OrgId;
use auterity_types::workflow_records::{StepChange, Transition};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use crate::secrets::{SecretError, SecretService};

pub const REDACTED: &str = "[redacted]";

/// The values of the secrets `names` for one evaluation in `org`.
pub async fn load(
    service: Option<&SecretService>,
    org: OrgId,
    names: &BTreeSet<String>,
) -> Result<BTreeMap<String, SecretString>, SecretError> {
    match service {
        Some(service) if !names.is_empty() => service.load(org, names).await,
        _ => Ok(BTreeMap::new()),
    }
}

/// Replaces every occurrence of a secret value in what `transition` writes.
pub fn redact_transition(transition: &mut Transition, secrets: &BTreeMap<String, SecretString>) {
    let mut values: Vec<&str> = secrets.values().map(|s| s.expose_secret()).filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return;
    }
    // Longest first, so a secret containing another is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let scrub = |value: &mut Option<Value>| {
        if let Some(value) = value {
            redact_value(value, &values);
        }
    };
    for change in &mut transition.step_changes {
        if let StepChange::Set { output, error, .. } = change {
            scrub(output);
            scrub(error);
        }
    }
    for step in &mut transition.new_steps {
        scrub(&mut step.input);
        scrub(&mut step.output);
        scrub(&mut step.error);
    }
    if let Some(attempt) = &mut transition.attempt {
        scrub(&mut attempt.error);
    }
    if let Some(run) = &mut transition.run_change {
        scrub(&mut run.output);
        scrub(&mut run.error);
    }
    for event in &mut transition.events {
        redact_value(&mut event.payload, &values);
    }
}

/// Replaces the secret values in every string (and object key) of `value`.
pub fn redact_value(value: &mut Value, secrets: &[&str]) {
    match value {
        Value::String(text) => {
            if let Some(redacted) = redact_text(text, secrets) {
                *text = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact_value(item, secrets)),
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().filter(|k| redact_text(k, secrets).is_some()).cloned().collect();
            for key in keys {
                if let Some(inner) = map.remove(&key) {
                    map.insert(redact_text(&key, secrets).unwrap_or(key), inner);
                }
            }
            map.values_mut().for_each(|item| redact_value(item, secrets));
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn redact_text(text: &str, secrets: &[&str]) -> Option<String> {
    if !secrets.iter().any(|secret| text.contains(secret)) {
        return None;
    }
    let mut out = text.to_owned();
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use auterity_types::workflow_records::{AttemptRecord, RunChange};
    use serde_json::json;

    #[test]
    fn every_written_field_is_scrubbed() {
        let secrets = BTreeMap::from([
            ("token".to_owned(), SecretString::from("tok-123")),
            ("long".to_owned(), SecretString::from("xx-tok-123-yy")),
        ]);
        let now = chrono::Utc::now();
        let mut transition = Transition {
            step_changes: vec![StepChange::Set {
                step_key: "a".into(),
                status: "completed".into(),
                output: Some(json!({"body": {"echo": "Bearer tok-123", "tok-123": ["xx-tok-123-yy", 5]}})),
                error: Some(json!({"message": "failed tok-123"})),
                ready_at: None,
                wake_at: None,
                completed_at: None,
            }],
            attempt: Some(AttemptRecord {
                run_id: uuid::Uuid::now_v7(),
                step_key: "a".into(),
                attempt: 1,
                outcome: "failed".into(),
                error: Some(json!("tok-123")),
                started_at: now,
                finished_at: now,
                worker: None,
            }),
            run_change: Some(RunChange {
                status: "completed".into(),
                output: Some(json!("tok-123")),
                error: None,
                started_at: None,
                completed_at: None,
            }),
            ..Transition::default()
        };
        redact_transition(&mut transition, &secrets);
        let written = format!("{transition:?}");
        assert!(!written.contains("tok-123"), "{written}");
        let StepChange::Set { output, .. } = &transition.step_changes[0] else { unreachable!() };
        assert_eq!(
            output.as_ref().unwrap(),
            &json!({"body": {"echo": "Bearer [redacted]", "[redacted]": ["[redacted]", 5]}})
        );
    }
}
