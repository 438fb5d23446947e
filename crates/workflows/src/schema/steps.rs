//! Step schemas: one `$defs/<kind>_step` per kind, each listing the common fields it accepts
//! plus its own, with `additionalProperties: false`; `$defs/step` dispatches on `kind`.

use serde_json::{Map, Value, json};

use crate::definition::StepKind;

/// Which of the common fields a kind accepts.
#[derive(Clone, Copy)]
struct Common {
    next: bool,
    timeout: bool,
    /// `retry`, `compensate`, `idempotency_key`: for steps with effects outside the run.
    action: bool,
}

const ACTION: Common = Common { next: true, timeout: true, action: true };
const WAITING: Common = Common { next: true, timeout: true, action: false };
const PURE: Common = Common { next: true, timeout: false, action: false };
const ROUTING: Common = Common { next: false, timeout: false, action: false };

fn step_schema(kind: &str, common: Common, required: &[&str], own: Value, extra: Value) -> Value {
    let mut properties = Map::new();
    properties.insert("id".into(), json!({"$ref": "#/$defs/identifier"}));
    properties.insert("kind".into(), json!({"const": kind}));
    properties.insert("name".into(), json!({"type": "string", "maxLength": 200}));
    properties.insert("description".into(), json!({"type": "string", "maxLength": 4000}));
    if common.next {
        properties.insert("next".into(), json!({"$ref": "#/$defs/step_targets"}));
    }
    if common.timeout {
        properties.insert("timeout".into(), json!({"$ref": "#/$defs/duration"}));
    }
    if common.action {
        properties.insert("retry".into(), json!({"$ref": "#/$defs/retry"}));
        properties.insert("compensate".into(), json!({"$ref": "#/$defs/identifier"}));
        properties.insert("idempotency_key".into(), json!({"$ref": "#/$defs/template"}));
    }
    if let Value::Object(own) = own {
        properties.extend(own);
    }
    let mut required_fields = vec!["id", "kind"];
    required_fields.extend_from_slice(required);
    let mut schema = json!({
        "type": "object",
        "required": required_fields,
        "additionalProperties": false,
        "properties": properties
    });
    if let (Value::Object(schema), Value::Object(extra)) = (&mut schema, extra) {
        schema.extend(extra);
    }
    schema
}

/// A nested sub-graph's fields (`start`, `steps`, `output`).
fn block_properties() -> Value {
    json!({
        "start": {"$ref": "#/$defs/step_targets"},
        "steps": {"$ref": "#/$defs/steps"},
        "output": {"$ref": "#/$defs/value_template"}
    })
}

fn merge(mut base: Value, more: Value) -> Value {
    if let (Value::Object(base), Value::Object(more)) = (&mut base, more) {
        base.extend(more);
    }
    base
}

pub(super) fn step_defs() -> Vec<(String, Value)> {
    let none = json!({});
    let mut defs = vec![
        (
            "http",
            step_schema(
                "http",
                ACTION,
                &["method", "url"],
                json!({
                    "method": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]},
                    "url": {"$ref": "#/$defs/template"},
                    "headers": {"$ref": "#/$defs/headers"},
                    "body": {"$ref": "#/$defs/value_template"},
                    "expect_status": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": ["integer", "string"],
                            "minimum": 100,
                            "maximum": 599,
                            "pattern": "^[1-5]xx$"
                        }
                    }
                }),
                none.clone(),
            ),
        ),
        (
            "ai",
            step_schema(
                "ai",
                ACTION,
                &["model"],
                json!({
                    "model": {"$ref": "#/$defs/template"},
                    "prompt": {"$ref": "#/$defs/template"},
                    "system": {"$ref": "#/$defs/template"},
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["role", "content"],
                            "additionalProperties": false,
                            "properties": {
                                "role": {"enum": ["system", "user", "assistant"]},
                                "content": {"$ref": "#/$defs/template"}
                            }
                        }
                    },
                    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                    "response_format": {
                        "anyOf": [
                            {"enum": ["text", "json"]},
                            {
                                "type": "object",
                                "required": ["json_schema"],
                                "additionalProperties": false,
                                "properties": {"json_schema": {"type": ["object", "boolean"]}}
                            }
                        ]
                    }
                }),
                json!({"if": {"not": {"required": ["messages"]}}, "then": {"required": ["prompt"]}}),
            ),
        ),
        (
            "model",
            step_schema(
                "model",
                ACTION,
                &["model", "input"],
                json!({
                    "model": {"type": "string", "minLength": 1, "maxLength": 200},
                    "deployment": {"type": "string", "minLength": 1, "maxLength": 200},
                    "input": {"$ref": "#/$defs/value_template"}
                }),
                none.clone(),
            ),
        ),
        (
            "mcp_tool",
            step_schema(
                "mcp_tool",
                ACTION,
                &["server", "tool"],
                json!({
                    "server": {"type": "string", "minLength": 1, "maxLength": 200},
                    "tool": {"type": "string", "minLength": 1, "maxLength": 200},
                    "arguments": {"type": ["object", "string"]}
                }),
                none.clone(),
            ),
        ),
        (
            "transform",
            step_schema(
                "transform",
                PURE,
                &["output"],
                json!({
                    "output": {"$ref": "#/$defs/value_template"}
                }),
                none.clone(),
            ),
        ),
        (
            "condition",
            step_schema(
                "condition",
                ROUTING,
                &["if"],
                json!({
                    "if": {"$ref": "#/$defs/expression"},
                    "then": {"$ref": "#/$defs/step_targets"},
                    "else": {"$ref": "#/$defs/step_targets"}
                }),
                none.clone(),
            ),
        ),
        (
            "switch",
            step_schema(
                "switch",
                ROUTING,
                &["cases"],
                json!({
                    "cases": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["when", "next"],
                            "additionalProperties": false,
                            "properties": {
                                "when": {"$ref": "#/$defs/expression"},
                                "next": {"$ref": "#/$defs/step_targets"}
                            }
                        }
                    },
                    "default": {"$ref": "#/$defs/step_targets"}
                }),
                none.clone(),
            ),
        ),
        (
            "parallel",
            step_schema(
                "parallel",
                WAITING,
                &["branches"],
                json!({
                    "branches": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 50,
                        "items": {
                            "type": "object",
                            "required": ["name", "steps"],
                            "additionalProperties": false,
                            "properties": merge(json!({"name": {"$ref": "#/$defs/identifier"}}), block_properties())
                        }
                    }
                }),
                none.clone(),
            ),
        ),
        (
            "foreach",
            step_schema(
                "foreach",
                WAITING,
                &["items", "steps"],
                merge(
                    json!({
                        "items": {"$ref": "#/$defs/expression"},
                        "concurrency": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1}
                    }),
                    block_properties(),
                ),
                none.clone(),
            ),
        ),
        (
            "delay",
            step_schema(
                "delay",
                PURE,
                &[],
                json!({
                    "duration": {"$ref": "#/$defs/duration"},
                    "until": {"$ref": "#/$defs/expression"}
                }),
                json!({"if": {"not": {"required": ["until"]}}, "then": {"required": ["duration"]}}),
            ),
        ),
        (
            "wait_event",
            step_schema(
                "wait_event",
                WAITING,
                &["event_type", "timeout"],
                json!({
                    "event_type": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,200}$"},
                    "filter": {"$ref": "#/$defs/expression"},
                    "on_timeout": {"$ref": "#/$defs/step_targets"}
                }),
                none.clone(),
            ),
        ),
        (
            "approval",
            step_schema(
                "approval",
                WAITING,
                &["approvers", "timeout"],
                json!({
                    "approvers": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": false,
                        "properties": {
                            "roles": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                            "users": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
                        }
                    },
                    "message": {"$ref": "#/$defs/template"},
                    "on_reject": {"$ref": "#/$defs/step_targets"},
                    "on_timeout": {"$ref": "#/$defs/step_targets"}
                }),
                none.clone(),
            ),
        ),
        (
            "subworkflow",
            step_schema(
                "subworkflow",
                ACTION,
                &["workflow"],
                json!({
                    "workflow": {"type": "string", "minLength": 1, "maxLength": 200},
                    "version": {"type": "integer", "minimum": 1, "maximum": 4_294_967_295u64},
                    "inputs": {
                        "type": "object",
                        "propertyNames": {"pattern": super::IDENTIFIER_PATTERN},
                        "additionalProperties": {"$ref": "#/$defs/value_template"}
                    }
                }),
                none.clone(),
            ),
        ),
        (
            "notify",
            step_schema(
                "notify",
                ACTION,
                &["channel", "body"],
                json!({
                    "channel": {"enum": ["webhook", "email"]},
                    "url": {"$ref": "#/$defs/template"},
                    "headers": {"$ref": "#/$defs/headers"},
                    "to": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/template"}},
                    "subject": {"$ref": "#/$defs/template"},
                    "body": {"$ref": "#/$defs/value_template"}
                }),
                json!({
                    "allOf": [
                        {
                            "if": {"properties": {"channel": {"const": "webhook"}}, "required": ["channel"]},
                            "then": {"required": ["url"], "properties": {"to": false, "subject": false}}
                        },
                        {
                            "if": {"properties": {"channel": {"const": "email"}}, "required": ["channel"]},
                            "then": {"required": ["to", "subject"], "properties": {"url": false, "headers": false}}
                        }
                    ]
                }),
            ),
        ),
    ];
    let dispatch: Vec<Value> = StepKind::NAMES
        .iter()
        .map(|kind| {
            json!({
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": format!("#/$defs/{kind}_step")}
            })
        })
        .collect();
    let step = json!({
        "type": "object",
        "required": ["id", "kind"],
        "properties": {
            "id": {"$ref": "#/$defs/identifier"},
            "kind": {"enum": StepKind::NAMES}
        },
        "allOf": dispatch
    });
    let mut out: Vec<(String, Value)> = defs.drain(..).map(|(kind, schema)| (format!("{kind}_step"), schema)).collect();
    out.push(("step".into(), step));
    out
}
