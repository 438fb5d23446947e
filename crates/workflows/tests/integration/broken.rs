//! A table of broken definitions, each with the exact pointers validation must report.

use auterity_workflows::validate;
use serde_json::{Value, json};

fn transform(id: &str, output: Value) -> Value {
    json!({"id": id, "kind": "transform", "output": output})
}

fn with_next(mut step: Value, next: Value) -> Value {
    step["next"] = next;
    step
}

fn workflow(steps: Value) -> Value {
    json!({"name": "broken", "inputs": {"email": {"type": "string"}}, "steps": steps})
}

fn http(id: &str) -> Value {
    json!({"id": id, "kind": "http", "method": "POST", "url": "https://example.com/${inputs.email}"})
}

fn cases() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    vec![
        // shape
        ("not an object", json!("workflow"), vec![""]),
        ("missing name and steps", json!({}), vec!["/name", "/steps"]),
        (
            "missing url and an unknown property",
            workflow(json!([{"id": "a", "kind": "http", "method": "GET", "bogus": 1}])),
            vec!["/steps/0/bogus", "/steps/0/url"],
        ),
        ("unknown kind", workflow(json!([{"id": "a", "kind": "shell"}])), vec!["/steps/0/kind"]),
        (
            "bad input name",
            json!({"name": "w", "inputs": {"e-mail": {}}, "steps": [transform("a", json!(1))]}),
            vec!["/inputs/e-mail"],
        ),
        (
            "zero max attempts",
            workflow(json!([{"id": "a", "kind": "http", "method": "GET", "url": "u", "retry": {"max_attempts": 0}}])),
            vec!["/steps/0/retry/max_attempts"],
        ),
        (
            "multiplier below one",
            workflow(json!([{"id": "a", "kind": "http", "method": "GET", "url": "u", "retry": {"multiplier": 0.5}}])),
            vec!["/steps/0/retry/multiplier"],
        ),
        (
            "zero concurrency",
            workflow(
                json!([{"id": "a", "kind": "foreach", "items": "[1]", "concurrency": 0, "steps": [transform("b", json!(1))]}]),
            ),
            vec!["/steps/0/concurrency"],
        ),
        (
            "calendar duration",
            workflow(json!([{"id": "a", "kind": "delay", "duration": "P1M"}])),
            vec!["/steps/0/duration"],
        ),
        (
            "nested shape error",
            workflow(
                json!([{"id": "p", "kind": "parallel", "branches": [{"name": "x", "steps": [{"id": "b", "kind": "http", "method": "GET"}]}]}]),
            ),
            vec!["/steps/0/branches/0/steps/0/url"],
        ),
        // durations
        (
            "zero timeout",
            workflow(json!([{"id": "a", "kind": "wait_event", "event_type": "x", "timeout": "0s"}])),
            vec!["/steps/0/timeout"],
        ),
        (
            "duration over a year",
            workflow(json!([{"id": "a", "kind": "delay", "duration": "400d"}])),
            vec!["/steps/0/duration"],
        ),
        (
            "nested zero backoff",
            workflow(
                json!([{"id": "f", "kind": "foreach", "items": "[1]", "steps": [{"id": "b", "kind": "http", "method": "GET", "url": "u", "retry": {"initial_backoff": "0ms"}}]}]),
            ),
            vec!["/steps/0/steps/0/retry/initial_backoff"],
        ),
        // graph
        (
            "duplicate id",
            workflow(json!([
                with_next(transform("a", json!(1)), json!("b")),
                transform("b", json!(1)),
                transform("a", json!(2))
            ])),
            vec!["/steps/2", "/steps/2/id"],
        ),
        ("unknown next", workflow(json!([with_next(transform("a", json!(1)), json!("nope"))])), vec!["/steps/0/next"]),
        (
            "unknown next in a list",
            workflow(json!([with_next(transform("a", json!(1)), json!(["b", "nope"])), transform("b", json!(1))])),
            vec!["/steps/0/next/1"],
        ),
        (
            "unknown condition branch",
            workflow(
                json!([{"id": "c", "kind": "condition", "if": "true", "then": "b", "else": "zzz"}, transform("b", json!(1))]),
            ),
            vec!["/steps/0/else"],
        ),
        (
            "unknown switch target",
            workflow(
                json!([{"id": "s", "kind": "switch", "cases": [{"when": "true", "next": "b"}, {"when": "false", "next": "x"}], "default": "y"}, transform("b", json!(1))]),
            ),
            vec!["/steps/0/cases/1/next", "/steps/0/default"],
        ),
        (
            "unknown on_timeout",
            workflow(
                json!([{"id": "w", "kind": "wait_event", "event_type": "lead.replied", "timeout": "1h", "on_timeout": "gone"}]),
            ),
            vec!["/steps/0/on_timeout"],
        ),
        (
            "unknown on_reject",
            workflow(
                json!([{"id": "ap", "kind": "approval", "approvers": {"users": ["u1"]}, "timeout": "1d", "on_reject": "gone"}]),
            ),
            vec!["/steps/0/on_reject"],
        ),
        ("unknown start", json!({"name": "w", "start": "nope", "steps": [transform("a", json!(1))]}), vec!["/start"]),
        (
            "cycle",
            workflow(json!([
                with_next(transform("a", json!(1)), json!("b")),
                with_next(transform("b", json!(1)), json!("c")),
                with_next(transform("c", json!(1)), json!("a"))
            ])),
            vec!["/steps/2/next"],
        ),
        ("self loop", workflow(json!([with_next(transform("a", json!(1)), json!("a"))])), vec!["/steps/0/next"]),
        ("unreachable step", workflow(json!([transform("a", json!(1)), transform("b", json!(1))])), vec!["/steps/1"]),
        (
            "unreachable in a branch",
            workflow(
                json!([{"id": "p", "kind": "parallel", "branches": [{"name": "x", "steps": [transform("b", json!(1)), transform("c", json!(1))]}]}]),
            ),
            vec!["/steps/0/branches/0/steps/1"],
        ),
        (
            "next leaves its block",
            workflow(
                json!([{"id": "f", "kind": "foreach", "items": "[1, 2]", "steps": [with_next(transform("b", json!(1)), json!("after"))], "next": "after"}, transform("after", json!(1))]),
            ),
            vec!["/steps/0/steps/0/next"],
        ),
        (
            "next into a block",
            workflow(
                json!([with_next(transform("a", json!(1)), json!("b")), {"id": "f", "kind": "foreach", "items": "[1]", "steps": [transform("b", json!(1))]}]),
            ),
            vec!["/steps/0/next", "/steps/1"],
        ),
        (
            "duplicate branch names",
            workflow(
                json!([{"id": "p", "kind": "parallel", "branches": [{"name": "x", "steps": [transform("b", json!(1))]}, {"name": "x", "steps": [transform("c", json!(1))]}]}]),
            ),
            vec!["/steps/0/branches/1/name"],
        ),
        // compensation
        (
            "unknown compensation",
            workflow(json!([{"id": "a", "kind": "http", "method": "GET", "url": "u", "compensate": "undo"}])),
            vec!["/steps/0/compensate"],
        ),
        (
            "compensation in the normal flow",
            workflow(json!([
                with_next(
                    json!({"id": "a", "kind": "http", "method": "GET", "url": "u", "compensate": "b"}),
                    json!("b")
                ),
                http("b")
            ])),
            vec!["/steps/0/compensate"],
        ),
        (
            "compensation that routes on",
            workflow(json!([
                json!({"id": "a", "kind": "http", "method": "GET", "url": "u", "compensate": "b"}),
                with_next(http("b"), json!("c")),
                transform("c", json!(1))
            ])),
            vec!["/steps/0/compensate", "/steps/2"],
        ),
        (
            "compensating itself",
            workflow(json!([{"id": "a", "kind": "http", "method": "GET", "url": "u", "compensate": "a"}])),
            vec!["/steps/0/compensate"],
        ),
        (
            "one handler for two steps",
            workflow(json!([
                with_next(
                    json!({"id": "a", "kind": "http", "method": "GET", "url": "u", "compensate": "undo"}),
                    json!("b")
                ),
                json!({"id": "b", "kind": "http", "method": "GET", "url": "u", "compensate": "undo"}),
                http("undo")
            ])),
            vec!["/steps/1/compensate"],
        ),
        // expressions
        (
            "condition syntax error",
            workflow(json!([{"id": "c", "kind": "condition", "if": "inputs.email =="}])),
            vec!["/steps/0/if"],
        ),
        (
            "unterminated template",
            workflow(json!([{"id": "a", "kind": "http", "method": "GET", "url": "https://x/${inputs.email"}])),
            vec!["/steps/0/url"],
        ),
        (
            "bad template deep in a body",
            workflow(
                json!([{"id": "a", "kind": "http", "method": "POST", "url": "u", "body": {"lead": {"name": "${1 +}"}}}]),
            ),
            vec!["/steps/0/body/lead/name"],
        ),
        ("unknown variable", workflow(json!([transform("a", json!("${lead.name}"))])), vec!["/steps/0/output"]),
        (
            "unknown input",
            workflow(json!([transform("a", json!({"x": "${inputs.phone}"}))])),
            vec!["/steps/0/output/x"],
        ),
        (
            "downstream step",
            workflow(json!([
                with_next(transform("a", json!("${steps.b.output}")), json!("b")),
                transform("b", json!(1))
            ])),
            vec!["/steps/0/output"],
        ),
        ("unknown step", workflow(json!([transform("a", json!("${steps.ghost.output}"))])), vec!["/steps/0/output"]),
        ("own output", workflow(json!([transform("a", json!("${steps.a.output}"))])), vec!["/steps/0/output"]),
        (
            "sibling branch",
            workflow(json!([
                with_next(transform("a", json!(1)), json!(["b", "c"])),
                transform("b", json!(1)),
                transform("c", json!("${steps.b.output}"))
            ])),
            vec!["/steps/2/output"],
        ),
        ("item outside foreach", workflow(json!([transform("a", json!("${item}"))])), vec!["/steps/0/output"]),
        (
            "event outside a filter",
            workflow(json!([transform("a", json!("${event.payload}"))])),
            vec!["/steps/0/output"],
        ),
        (
            "foreach body read from outside",
            workflow(
                json!([{"id": "f", "kind": "foreach", "items": "[1]", "steps": [transform("b", json!(1))], "next": "after"}, transform("after", json!("${steps.b.output}"))]),
            ),
            vec!["/steps/1/output"],
        ),
        (
            "other parallel branch",
            workflow(
                json!([{"id": "p", "kind": "parallel", "branches": [{"name": "x", "steps": [transform("b", json!(1))]}, {"name": "y", "steps": [transform("c", json!("${steps.b.output}"))]}]}]),
            ),
            vec!["/steps/0/branches/1/steps/0/output"],
        ),
        (
            "workflow output reads a nested step",
            json!({"name": "w", "steps": [{"id": "f", "kind": "foreach", "items": "[1]", "steps": [transform("b", json!(1))]}], "output": {"x": "${steps.b.output}"}}),
            vec!["/output/x"],
        ),
        (
            "computed secret name",
            workflow(
                json!([{"id": "a", "kind": "http", "method": "GET", "url": "u", "headers": {"Authorization": "${secrets[inputs.email]}"}}]),
            ),
            vec!["/steps/0/headers/Authorization"],
        ),
        (
            "too many nested comprehensions",
            workflow(json!([{"id": "c", "kind": "condition", "if": "[1].all(a, [2].all(b, [3].all(c, true)))"}])),
            vec!["/steps/0/if"],
        ),
        (
            "bad idempotency key",
            workflow(json!([{"id": "a", "kind": "http", "method": "GET", "url": "u", "idempotency_key": "${run.id"}])),
            vec!["/steps/0/idempotency_key"],
        ),
        // cross-field rules and nested schemas
        (
            "initial backoff above max",
            workflow(
                json!([{"id": "a", "kind": "http", "method": "GET", "url": "u", "retry": {"initial_backoff": "2m", "max_backoff": "1m"}}]),
            ),
            vec!["/steps/0/retry/initial_backoff"],
        ),
        (
            "prompt and messages",
            workflow(
                json!([{"id": "a", "kind": "ai", "model": "m", "prompt": "p", "messages": [{"role": "user", "content": "c"}]}]),
            ),
            vec!["/steps/0/messages"],
        ),
        (
            "duration and until",
            workflow(
                json!([{"id": "a", "kind": "delay", "duration": "5m", "until": "timestamp('2030-01-01T00:00:00Z')"}]),
            ),
            vec!["/steps/0/until"],
        ),
        (
            "calls itself",
            workflow(json!([{"id": "a", "kind": "subworkflow", "workflow": "broken"}])),
            vec!["/steps/0/workflow"],
        ),
        (
            "invalid input schema",
            json!({"name": "w", "inputs": {"x": {"type": "text"}}, "steps": [transform("a", json!(1))]}),
            vec!["/inputs/x/type"],
        ),
        (
            "input default off its schema",
            json!({"name": "w", "inputs": {"x": {"type": "integer", "default": "ten"}}, "steps": [transform("a", json!(1))]}),
            vec!["/inputs/x/default"],
        ),
        (
            "invalid response schema",
            workflow(
                json!([{"id": "a", "kind": "ai", "model": "m", "prompt": "p", "response_format": {"json_schema": {"type": 5}}}]),
            ),
            vec!["/steps/0/response_format/json_schema/type"],
        ),
        // several problems at once are all reported
        (
            "every problem at once",
            workflow(json!([
                with_next(transform("a", json!("${inputs.phone}")), json!("nope")),
                {"id": "c", "kind": "condition", "if": "steps.a.output >"},
                transform("d", json!(1))
            ])),
            vec!["/steps/0/next", "/steps/0/output", "/steps/1", "/steps/1/if", "/steps/2"],
        ),
    ]
}

#[test]
fn broken_definitions_report_exact_pointers() {
    let mut failures = Vec::new();
    for (name, document, expected) in cases() {
        let Err(errors) = validate(&document) else {
            failures.push(format!("{name}: accepted"));
            continue;
        };
        let mut pointers: Vec<&str> = errors.iter().map(|error| error.pointer.as_str()).collect();
        pointers.sort_unstable();
        pointers.dedup();
        if pointers != expected {
            failures.push(format!("{name}: expected {expected:?}, got {errors:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn details_explain_the_problem() {
    let cycle = workflow(json!([
        with_next(transform("a", json!(1)), json!("b")),
        with_next(transform("b", json!(1)), json!("a"))
    ]));
    let errors = validate(&cycle).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].detail.contains("a → b → a"), "{}", errors[0].detail);

    let downstream =
        workflow(json!([with_next(transform("a", json!("${steps.b.output}")), json!("b")), transform("b", json!(1))]));
    let errors = validate(&downstream).unwrap_err();
    assert!(errors[0].detail.contains("not upstream"), "{}", errors[0].detail);

    let missing = workflow(json!([{"id": "a", "kind": "http", "method": "GET"}]));
    let errors = validate(&missing).unwrap_err();
    assert_eq!(errors[0].detail, "missing required property 'url'");
}

proptest::proptest! {
    /// Validation never panics, whatever JSON it is given.
    #[test]
    fn validation_never_panics(document in arbitrary_json()) {
        let _ = validate(&document);
    }

    /// Mutating a valid definition's strings never panics validation either.
    #[test]
    fn validation_of_mutated_examples_never_panics(replacement in "\\PC{0,20}", position in 0usize..200) {
        for (_, mut document) in crate::example_definitions() {
            let mut seen = 0;
            mutate_nth_string(&mut document, position, &replacement, &mut seen);
            let _ = validate(&document);
        }
    }
}

fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z_${}.]{0,12}".prop_map(Value::String),
        prop_oneof![Just("steps"), Just("id"), Just("kind"), Just("http"), Just("next")].prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("steps".to_owned()),
                    Just("id".to_owned()),
                    Just("kind".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn mutate_nth_string(value: &mut Value, target: usize, replacement: &str, seen: &mut usize) {
    match value {
        Value::String(text) => {
            if *seen == target {
                *text = replacement.to_owned();
            }
            *seen += 1;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mutate_nth_string(item, target, replacement, seen)),
        Value::Object(map) => map.values_mut().for_each(|item| mutate_nth_string(item, target, replacement, seen)),
        _ => {}
    }
}
