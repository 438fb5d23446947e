//! Input declarations and run inputs: each declared input is a valid JSON Schema (draft
//! 2020-12, no remote `$ref`), and a run's inputs match them, defaults applied.

use auterity_types::error::FieldError;
use serde_json::{Map, Value};

use crate::definition::{WorkflowDefinition, escape_token};

/// Formats (`email`, `date-time`, `uuid`, …) are asserted, not just annotations: an input
/// declared as an email should not accept "hello".
fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|error| error.to_string())
}

/// Checks a JSON Schema written inside a definition (an input, an AI `json_schema`),
/// reporting under `pointer`.
pub(super) fn check_schema(schema: &Value, pointer: &str, errors: &mut Vec<FieldError>) {
    if let Err(error) = jsonschema::meta::validate(schema) {
        errors.push(FieldError::new(
            format!("{pointer}{}", error.instance_path().as_str()),
            format!("not a valid JSON Schema: {error}"),
        ));
        return;
    }
    match compile(schema) {
        Err(error) => errors.push(FieldError::new(pointer, format!("not a usable JSON Schema: {error}"))),
        Ok(validator) => {
            if let Some(default) = schema.get("default") {
                for error in validator.iter_errors(default) {
                    errors.push(FieldError::new(
                        format!("{pointer}/default{}", error.instance_path().as_str()),
                        format!("default does not match the schema: {error}"),
                    ));
                }
            }
        }
    }
}

pub(super) fn check_input_declarations(definition: &WorkflowDefinition, errors: &mut Vec<FieldError>) {
    for (name, schema) in &definition.inputs {
        check_schema(schema, &format!("/inputs/{}", escape_token(name)), errors);
    }
}

/// A definition's input declarations with each schema compiled once: run starts of one version
/// (webhook bursts, manual starts) check their inputs without compiling schemas again.
pub struct InputSchemas {
    inputs: Vec<DeclaredInput>,
}

/// One declared input, ready to check.
struct DeclaredInput {
    name: String,
    pointer: String,
    default: Option<Value>,
    /// The compiled schema, or why it did not compile (validated definitions never have that).
    schema: Result<jsonschema::Validator, String>,
}

impl InputSchemas {
    pub fn compile(definition: &WorkflowDefinition) -> Self {
        let inputs = definition
            .inputs
            .iter()
            .map(|(name, schema)| DeclaredInput {
                name: name.clone(),
                pointer: format!("/inputs/{}", escape_token(name)),
                default: schema.get("default").cloned(),
                schema: compile(schema),
            })
            .collect();
        Self { inputs }
    }

    /// Checks a run's inputs against the declarations and returns them with the declared
    /// defaults filled in. An input without `default` is required; undeclared inputs are
    /// rejected. Pointers are `/inputs/<name>…`, as in a `{"inputs": {…}}` request body.
    pub fn validate(&self, inputs: &Value) -> Result<Value, Vec<FieldError>> {
        let empty = Map::new();
        let provided = match inputs {
            Value::Null => &empty,
            Value::Object(map) => map,
            _ => return Err(vec![FieldError::new("/inputs", "inputs must be a JSON object")]),
        };
        let mut errors = Vec::new();
        for name in provided.keys() {
            if !self.inputs.iter().any(|declared| &declared.name == name) {
                errors.push(FieldError::new(
                    format!("/inputs/{}", escape_token(name)),
                    format!("unknown input '{name}'"),
                ));
            }
        }
        let mut completed = Map::new();
        for DeclaredInput { name, pointer, default, schema } in &self.inputs {
            let value = match (provided.get(name), default) {
                (Some(value), _) => value.clone(),
                (None, Some(default)) => default.clone(),
                (None, None) => {
                    errors.push(FieldError::new(pointer.clone(), format!("input '{name}' is required")));
                    continue;
                }
            };
            match schema {
                Ok(validator) => {
                    for error in validator.iter_errors(&value) {
                        errors.push(FieldError::new(
                            format!("{pointer}{}", error.instance_path().as_str()),
                            error.to_string(),
                        ));
                    }
                }
                // validated definitions never get here
                Err(error) => {
                    errors.push(FieldError::new(pointer.clone(), format!("input schema is invalid: {error}")))
                }
            }
            completed.insert(name.clone(), value);
        }
        if errors.is_empty() { Ok(Value::Object(completed)) } else { Err(errors) }
    }
}

/// [`InputSchemas::validate`] for a definition whose schemas are not compiled yet.
pub fn validate_inputs(definition: &WorkflowDefinition, inputs: &Value) -> Result<Value, Vec<FieldError>> {
    InputSchemas::compile(definition).validate(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition() -> WorkflowDefinition {
        serde_json::from_value(json!({
            "name": "x",
            "inputs": {
                "email": {"type": "string", "format": "email"},
                "score": {"type": "integer", "minimum": 0, "default": 10},
                "lead": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
            },
            "steps": [{"id": "a", "kind": "transform", "output": 1}]
        }))
        .unwrap()
    }

    #[test]
    fn applies_defaults() {
        let inputs = validate_inputs(&definition(), &json!({"email": "a@b.example", "lead": {"name": "Ada"}})).unwrap();
        assert_eq!(inputs["score"], 10);
    }

    #[test]
    fn reports_every_problem_with_pointers() {
        let errors =
            validate_inputs(&definition(), &json!({"score": -1, "lead": {"name": 5}, "extra": true})).unwrap_err();
        let mut pointers: Vec<_> = errors.iter().map(|error| error.pointer.as_str()).collect();
        pointers.sort_unstable();
        assert_eq!(pointers, ["/inputs/email", "/inputs/extra", "/inputs/lead/name", "/inputs/score"]);
        assert!(validate_inputs(&definition(), &json!([1])).is_err());
    }

    #[test]
    fn checks_declared_schemas() {
        let mut errors = Vec::new();
        check_schema(&json!({"type": "strin"}), "/inputs/a", &mut errors);
        check_schema(&json!({"type": "integer", "default": "x"}), "/inputs/b", &mut errors);
        check_schema(&json!({"$ref": "https://example.com/schema.json"}), "/inputs/c", &mut errors);
        check_schema(&json!({"type": "string", "pattern": "("}), "/inputs/d", &mut errors);
        let pointers: Vec<_> = errors.iter().map(|error| error.pointer.as_str()).collect();
        assert_eq!(pointers, ["/inputs/a/type", "/inputs/b/default", "/inputs/c", "/inputs/d"], "{errors:?}");
    }
}
