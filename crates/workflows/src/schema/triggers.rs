//! Trigger and flow-control schemas: `$defs/<kind>_trigger` per kind with `additionalProperties: false`, and
//! `$defs/triggers`, the list, dispatching on `kind`. Cron patterns, time zones and expressions
//! are checked by [`crate::validate`].

use serde_json::{Map, Value, json};

use crate::definition::TriggerKind;

/// Most triggers a workflow may declare.
pub(crate) const MAX_TRIGGERS: usize = 20;

fn trigger_schema(kind: &str, required: &[&str], own: Value) -> Value {
    let mut properties = Map::new();
    properties.insert("id".into(), json!({"$ref": "#/$defs/identifier"}));
    properties.insert("kind".into(), json!({"const": kind}));
    properties.insert("priority".into(), json!({"type": "integer", "minimum": -1000, "maximum": 1000, "default": 0}));
    properties.insert("description".into(), json!({"type": "string", "maxLength": 4000}));
    if let Value::Object(own) = own {
        properties.extend(own);
    }
    let mut required_fields = vec!["id", "kind"];
    required_fields.extend_from_slice(required);
    json!({"type": "object", "required": required_fields, "additionalProperties": false, "properties": properties})
}

pub(super) fn trigger_defs() -> Vec<(String, Value)> {
    let defs = [
        ("webhook", trigger_schema("webhook", &[], json!({}))),
        (
            "cron",
            trigger_schema(
                "cron",
                &["schedule"],
                json!({
                    "schedule": {
                        "description": "Cron pattern: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; aliases like @hourly.",
                        "type": "string", "minLength": 1, "maxLength": 200
                    },
                    "timezone": {"description": "IANA time zone (Europe/Paris); default UTC.", "type": "string", "maxLength": 64},
                    "inputs": {"description": "The inputs of every run it starts.", "type": "object"}
                }),
            ),
        ),
        (
            "event",
            trigger_schema(
                "event",
                &["event_type"],
                json!({
                    "event_type": {"type": "string", "minLength": 1, "maxLength": 200},
                    "filter": {"$ref": "#/$defs/expression"},
                    "inputs": {"$ref": "#/$defs/value_template", "description": "Inputs of the run, over `event`; default {\"event\": <the event>}."}
                }),
            ),
        ),
    ];
    let dispatch: Vec<Value> = TriggerKind::NAMES
        .iter()
        .map(|kind| {
            json!({
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": format!("#/$defs/{kind}_trigger")}
            })
        })
        .collect();
    let trigger = json!({
        "type": "object",
        "required": ["id", "kind"],
        "properties": {"id": {"$ref": "#/$defs/identifier"}, "kind": {"enum": TriggerKind::NAMES}},
        "allOf": dispatch
    });
    let list = json!({"type": "array", "maxItems": MAX_TRIGGERS, "items": {"$ref": "#/$defs/trigger"}});
    let mut out: Vec<(String, Value)> =
        defs.into_iter().map(|(kind, schema)| (format!("{kind}_trigger"), schema)).collect();
    out.push(("trigger".into(), trigger));
    out.push(("triggers".into(), list));
    out.push(("flow".into(), flow_schema()));
    out
}

fn flow_schema() -> Value {
    json!({
        "description": "Flow control: runs beyond a limit wait as pending, highest priority first, then oldest.",
        "type": "object",
        "additionalProperties": false,
        "minProperties": 1,
        "properties": {
            "concurrency": {"type": "integer", "minimum": 1, "maximum": 100000},
            "key": {"$ref": "#/$defs/expression", "description": "CEL over `inputs`: the run's concurrency key."},
            "key_concurrency": {"type": "integer", "minimum": 1, "maximum": 100000},
            "key_rate": {"type": "string", "pattern": "^[1-9][0-9]{0,5}/(s|min|h|d)$", "description": "Most starts per key per period, e.g. 10/min."}
        },
        "dependentRequired": {"key_concurrency": ["key"], "key_rate": ["key"]}
    })
}
