//! The published JSON Schema (draft 2020-12) of the workflow format, served at
//! `GET /api/workflows/schema`. Built in code so the per-kind step schemas share one list of
//! common fields; `tests/integration.rs` validates every example definition against it.
//!
//! The schema checks shape. What it cannot say (references resolve, the graph is a DAG,
//! expressions parse, "either `prompt` or `messages`, not both") is checked by [`crate::validate`].

mod steps;
mod triggers;

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::definition::FORMAT_V1;

pub const SCHEMA_ID: &str = "urn:auterity:schema:workflow:v1";

/// Step ids and input names are CEL identifiers, so `steps.fetch` and `inputs.email` work.
pub(crate) const IDENTIFIER_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,63}$";
pub(crate) const WORKFLOW_NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$";
/// ISO-8601 (`PT5M`) or shorthand (`5m`, `1h30m`, `500ms`); `crate::duration` has the details.
pub(crate) const DURATION_PATTERN: &str = r"^(P([0-9]+W)?([0-9]+(\.[0-9]+)?D)?(T([0-9]+(\.[0-9]+)?H)?([0-9]+(\.[0-9]+)?M)?([0-9]+(\.[0-9]+)?S)?)?|([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+)$";

static SCHEMA: LazyLock<Value> = LazyLock::new(build_schema);

/// The workflow format's JSON Schema.
pub fn workflow_schema() -> &'static Value {
    &SCHEMA
}

static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(workflow_schema())
        .map_err(|error| error.to_string())
});

/// The compiled schema; an error here is a bug in [`build_schema`] (a unit test builds it).
pub(crate) fn validator() -> Result<&'static jsonschema::Validator, String> {
    VALIDATOR.as_ref().map_err(Clone::clone)
}

fn build_schema() -> Value {
    let mut defs = common_defs();
    if let Value::Object(defs) = &mut defs {
        for (name, schema) in steps::step_defs().into_iter().chain(triggers::trigger_defs()) {
            defs.insert(name, schema);
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Auterity workflow definition",
        "description": "Format auterity.workflow/v1: typed inputs, a graph of steps, and an output. See docs/workflow-format.md.",
        "type": "object",
        "required": ["name", "steps"],
        "additionalProperties": false,
        "properties": {
            "$schema": {"type": "string"},
            "format": {"const": FORMAT_V1, "description": "Format version; absent means auterity.workflow/v1."},
            "name": {"type": "string", "pattern": WORKFLOW_NAME_PATTERN},
            "description": {"type": "string", "maxLength": 4000},
            "inputs": {
                "type": "object",
                "description": "Input name → JSON Schema (draft 2020-12) of its value. An input without `default` is required.",
                "propertyNames": {"pattern": IDENTIFIER_PATTERN},
                "additionalProperties": {"type": ["object", "boolean"]}
            },
            "start": {"$ref": "#/$defs/step_targets", "description": "Entry step(s); absent = the first step."},
            "steps": {"$ref": "#/$defs/steps"},
            "output": {"$ref": "#/$defs/value_template"},
            "timeout": {"$ref": "#/$defs/duration"},
            "triggers": {"$ref": "#/$defs/triggers"},
            "flow": {"$ref": "#/$defs/flow"}
        },
        "$defs": defs
    })
}

fn common_defs() -> Value {
    json!({
        "identifier": {"type": "string", "pattern": IDENTIFIER_PATTERN},
        "step_targets": {
            "description": "One step id, or several (all of them start: fan-out).",
            "type": ["string", "array"],
            "pattern": IDENTIFIER_PATTERN,
            "minItems": 1,
            "uniqueItems": true,
            "items": {"$ref": "#/$defs/identifier"}
        },
        "duration": {
            "description": "ISO-8601 duration (PT5M, P1DT2H) or shorthand (5m, 1h30m, 500ms); positive, at most 366 days.",
            "type": "string",
            "pattern": DURATION_PATTERN
        },
        "expression": {
            "description": "A CEL expression (no ${…}).",
            "type": "string",
            "minLength": 1,
            "maxLength": 4096
        },
        "template": {
            "description": "A string with ${CEL} interpolations; exactly \"${expr}\" yields the typed value.",
            "type": "string",
            "maxLength": 65536
        },
        "value_template": {"description": "Any JSON; every string in it is a template."},
        "headers": {
            "type": "object",
            "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$"},
            "additionalProperties": {"$ref": "#/$defs/template"}
        },
        "error_class": {
            "enum": [
                "timeout", "network", "http_429", "http_4xx", "http_5xx", "rate_limited",
                "unavailable", "expression", "rejected", "child_failed", "egress_denied", "response_too_large",
                "internal", "any"
            ]
        },
        "retry": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3},
                "initial_backoff": {"$ref": "#/$defs/duration", "default": "1s"},
                "max_backoff": {"$ref": "#/$defs/duration", "default": "1m"},
                "multiplier": {"type": "number", "minimum": 1, "maximum": 100, "default": 2},
                "jitter": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.2},
                "retry_on": {"type": "array", "items": {"$ref": "#/$defs/error_class"}, "uniqueItems": true}
            }
        },
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": 500,
            "items": {"$ref": "#/$defs/step"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_compiles_and_is_a_valid_2020_12_schema() {
        assert!(validator().is_ok(), "{:?}", validator().err());
        assert!(jsonschema::meta::validate(workflow_schema()).is_ok());
    }

    #[test]
    fn every_kind_has_a_schema() {
        let defs = &workflow_schema()["$defs"];
        for kind in crate::StepKind::NAMES {
            assert!(defs.get(format!("{kind}_step")).is_some(), "{kind}");
        }
    }

    #[test]
    fn accepts_a_minimal_definition_and_rejects_unknown_fields() {
        let validator = validator().unwrap();
        let minimal = json!({"name": "x", "steps": [{"id": "a", "kind": "transform", "output": 1}]});
        assert!(validator.is_valid(&minimal));
        let unknown = json!({"name": "x", "steps": [{"id": "a", "kind": "transform", "output": 1, "url": "u"}]});
        assert!(!validator.is_valid(&unknown));
        let bad_duration =
            json!({"name": "x", "timeout": "5 minutes", "steps": [{"id": "a", "kind": "transform", "output": 1}]});
        assert!(!validator.is_valid(&bad_duration));
    }
}
