//! The published schema accepts the examples and rejects malformed documents.

use auterity_workflows::workflow_schema;
use serde_json::{Value, json};

use crate::example_definitions;

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(workflow_schema()).unwrap()
}

#[test]
fn accepts_every_example() {
    let validator = validator();
    for (name, value) in example_definitions() {
        let errors: Vec<String> = validator.iter_errors(&value).map(|error| error.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn rejects_malformed_documents() {
    let validator = validator();
    let step = |extra: Value| {
        let mut step = json!({"id": "a", "kind": "transform", "output": 1});
        step.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"name": "w", "steps": [step]})
    };
    let cases = [
        ("not an object", json!([])),
        ("no steps", json!({"name": "w"})),
        ("empty steps", json!({"name": "w", "steps": []})),
        ("bad name", json!({"name": " w", "steps": [{"id": "a", "kind": "transform", "output": 1}]})),
        (
            "unknown format",
            json!({"format": "v2", "name": "w", "steps": [{"id": "a", "kind": "transform", "output": 1}]}),
        ),
        ("unknown kind", json!({"name": "w", "steps": [{"id": "a", "kind": "shell"}]})),
        ("bad step id", json!({"name": "w", "steps": [{"id": "a-b", "kind": "transform", "output": 1}]})),
        ("field of another kind", step(json!({"url": "https://x"}))),
        ("retry on transform", step(json!({"retry": {"max_attempts": 2}}))),
        ("next not an id", step(json!({"next": 3}))),
        ("empty next list", step(json!({"next": []}))),
        ("http without url", json!({"name": "w", "steps": [{"id": "a", "kind": "http", "method": "GET"}]})),
        ("lowercase method", json!({"name": "w", "steps": [{"id": "a", "kind": "http", "method": "get", "url": "u"}]})),
        (
            "zero attempts",
            json!({"name": "w", "steps": [{"id": "a", "kind": "http", "method": "GET", "url": "u", "retry": {"max_attempts": 0}}]}),
        ),
        (
            "jitter above one",
            json!({"name": "w", "steps": [{"id": "a", "kind": "http", "method": "GET", "url": "u", "retry": {"jitter": 1.5}}]}),
        ),
        (
            "zero concurrency",
            json!({"name": "w", "steps": [{"id": "a", "kind": "foreach", "items": "[1]", "concurrency": 0, "steps": [{"id": "b", "kind": "transform", "output": 1}]}]}),
        ),
        ("bad duration", json!({"name": "w", "steps": [{"id": "a", "kind": "delay", "duration": "five minutes"}]})),
        (
            "webhook without url",
            json!({"name": "w", "steps": [{"id": "a", "kind": "notify", "channel": "webhook", "body": {}}]}),
        ),
        (
            "email with url",
            json!({"name": "w", "steps": [{"id": "a", "kind": "notify", "channel": "email", "to": ["x"], "subject": "s", "body": "b", "url": "u"}]}),
        ),
        ("ai without prompt or messages", json!({"name": "w", "steps": [{"id": "a", "kind": "ai", "model": "m"}]})),
        (
            "approval without timeout",
            json!({"name": "w", "steps": [{"id": "a", "kind": "approval", "approvers": {"roles": ["x"]}}]}),
        ),
        (
            "condition with next",
            json!({"name": "w", "steps": [{"id": "a", "kind": "condition", "if": "true", "next": "a"}]}),
        ),
    ];
    for (name, document) in cases {
        assert!(!validator.is_valid(&document), "{name} should be rejected");
    }
}
