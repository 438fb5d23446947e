//! Evaluation tests for the expression language.

use serde_json::json;

use super::*;

fn context() -> EvalContext {
    let mut context = EvalContext::new(json!({"name": "Ada", "score": 72, "leads": [{"id": 1}, {"id": 2}]}));
    context.set_step("fetch", "completed", json!({"status": 200, "body": {"items": [1, 2, 3]}}), None);
    context.secrets.insert("crm_token".into(), "s3cret".to_owned().into());
    context
}

fn eval(source: &str) -> Result<serde_json::Value, ExprError> {
    Expression::compile(source)?.evaluate(&context())
}

#[test]
fn evaluates_paths_and_operators() {
    assert_eq!(eval("inputs.name").unwrap(), json!("Ada"));
    assert_eq!(eval("steps.fetch.output.body.items[1]").unwrap(), json!(2));
    assert_eq!(eval("steps['fetch'].output.status == 200").unwrap(), json!(true));
    assert_eq!(eval("inputs.score > 50 && inputs.name.startsWith('A')").unwrap(), json!(true));
    assert_eq!(eval("inputs.leads.map(l, l.id * 10)").unwrap(), json!([10, 20]));
    assert_eq!(eval("{'a': inputs.score, 'b': [1, 2.5]}").unwrap(), json!({"a": 72, "b": [1, 2.5]}));
    assert_eq!(eval("inputs.name.lowerAscii()").unwrap(), json!("ada"));
    assert_eq!(eval("math.greatest(1, 5, 3)").unwrap(), json!(5));
    assert_eq!(eval("secrets.crm_token").unwrap(), json!("s3cret"));
    assert_eq!(eval("'Bearer ' + secrets.crm_token").unwrap(), json!("Bearer s3cret"));
    assert_eq!(eval("type(inputs.name) == string").unwrap(), json!(true));
    assert_eq!(eval("has(inputs.nope)").unwrap(), json!(false));
    assert_eq!(eval("inputs.?nope.orValue('none')").unwrap(), json!("none"));
    assert_eq!(eval("timestamp('2030-01-02T09:00:00Z') - duration('24h')").unwrap(), json!("2030-01-01T09:00:00Z"));
    assert_eq!(eval("duration('90s')").unwrap(), json!("90s"));
}

#[test]
fn reports_evaluation_errors() {
    assert!(matches!(eval("inputs.nope"), Err(ExprError::Evaluation(message)) if message.contains("nope")));
    assert!(matches!(eval("inputs.nope + 1"), Err(ExprError::Evaluation(_))));
    assert!(matches!(eval("1 / 0"), Err(ExprError::Evaluation(_))));
    assert!(matches!(eval("secrets.missing"), Err(ExprError::MissingSecret(name)) if name == "missing"));
    assert!(matches!(eval("item"), Err(ExprError::Evaluation(_))));
    let condition = Expression::compile("inputs.score").unwrap();
    assert!(matches!(condition.evaluate_bool(&context()), Err(ExprError::WrongType { .. })));
}

#[test]
fn rejects_at_compile_time() {
    assert!(matches!(Expression::compile("inputs.name +"), Err(ExprError::Syntax(_))));
    assert!(matches!(Expression::compile("foo.bar"), Err(ExprError::UnknownVariable { name }) if name == "foo"));
    assert!(matches!(Expression::compile("secrets[inputs.name]"), Err(ExprError::DynamicSecret)));
    assert!(matches!(Expression::compile("secrets"), Err(ExprError::DynamicSecret)));
    assert!(matches!(Expression::compile(&"1 + ".repeat(2000)), Err(ExprError::TooLong { .. })));
    let nested = "inputs.leads.all(a, inputs.leads.all(b, inputs.leads.all(c, true)))";
    assert!(matches!(Expression::compile(nested), Err(ExprError::TooComplex(_))));
    let deep = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    assert!(Expression::compile(&deep).is_ok(), "parentheses do not nest the AST");
    let deep = format!("{}1{}", "[".repeat(60), "]".repeat(60));
    assert!(matches!(Expression::compile(&deep), Err(ExprError::TooComplex(_) | ExprError::Syntax(_))));
    let long_chain = vec!["inputs.score"; 200].join(" + ");
    assert!(matches!(Expression::compile(&long_chain), Err(ExprError::TooComplex(_))));
}

#[test]
fn collects_references() {
    let expression =
        Expression::compile("steps.a.output + steps['b'].output + inputs.x + secrets.k + secrets['k-2']").unwrap();
    let references = expression.references();
    assert_eq!(references.steps.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(references.inputs.iter().collect::<Vec<_>>(), ["x"]);
    assert_eq!(references.secrets.iter().collect::<Vec<_>>(), ["k", "k-2"]);
    assert!(!references.dynamic_steps);
    let dynamic = Expression::compile("steps[inputs.which].output").unwrap();
    assert!(dynamic.references().dynamic_steps);
    let bound = Expression::compile("inputs.leads.exists(steps, steps.id == 1)").unwrap();
    assert!(bound.references().steps.is_empty() && !bound.references().dynamic_steps);
}

#[test]
fn limits_result_size_and_time() {
    let limits = Limits { max_result_bytes: 64, ..Limits::default() };
    let big =
        Expression::compile_with_limits("inputs.leads.map(l, 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')", &limits);
    assert!(matches!(big.unwrap().evaluate(&context()), Err(ExprError::ResultTooLarge { max: 64 })));
    let fast = Expression::compile_with_limits("inputs", &limits).unwrap();
    assert!(fast.evaluate(&context()).is_ok());
    let tiny = Limits { max_result_bytes: 8, ..Limits::default() };
    let fast = Expression::compile_with_limits("inputs", &tiny).unwrap();
    assert!(matches!(fast.evaluate(&context()), Err(ExprError::ResultTooLarge { .. })));

    let slow_limits = Limits { eval_timeout: std::time::Duration::from_millis(20), ..Limits::default() };
    let mut slow_context = context();
    slow_context.inputs = json!({"xs": (0..3000).collect::<Vec<_>>()});
    let slow =
        Expression::compile_with_limits("inputs.xs.map(a, inputs.xs.filter(b, b > a).size()).size()", &slow_limits);
    assert!(matches!(slow.unwrap().evaluate(&slow_context), Err(ExprError::Timeout(_))));
}

#[test]
fn renders_templates() {
    let context = context();
    let greeting = Template::parse("Hello ${inputs.name}, score ${inputs.score}!").unwrap();
    assert_eq!(greeting.render(&context).unwrap(), json!("Hello Ada, score 72!"));
    let typed = Template::parse("${steps.fetch.output.body}").unwrap();
    assert_eq!(typed.render(&context).unwrap(), json!({"items": [1, 2, 3]}));
    assert_eq!(typed.render_string(&context).unwrap(), r#"{"items":[1,2,3]}"#);
    let literal = Template::parse("cost: $${price} $5").unwrap();
    assert_eq!(literal.render(&context).unwrap(), json!("cost: ${price} $5"));
    let braces = Template::parse("${ {'k': '}'}['k'] }").unwrap();
    assert_eq!(braces.render(&context).unwrap(), json!("}"));

    let value = json!({"lead": {"name": "${inputs.name}", "n": "${inputs.score + 1}"}, "fixed": [1, "a"]});
    let template = ValueTemplate::compile(&value).unwrap();
    assert_eq!(template.render(&context).unwrap(), json!({"lead": {"name": "Ada", "n": 73}, "fixed": [1, "a"]}));
    let whole = ValueTemplate::compile(&json!("${inputs.leads}")).unwrap();
    assert_eq!(whole.render(&context).unwrap(), json!([{"id": 1}, {"id": 2}]));

    let failing = ValueTemplate::compile(&json!({"a": {"b": "${inputs.nope}"}})).unwrap();
    let error = failing.render(&context).unwrap_err();
    assert!(matches!(&error, ExprError::At { pointer, .. } if pointer == "/a/b"), "{error:?}");
}

proptest::proptest! {
    #[test]
    fn compiling_arbitrary_text_never_panics(source in "\\PC{0,80}") {
        let _ = Expression::compile(&source);
    }

    #[test]
    fn compiling_cel_like_text_never_panics(source in "[a-z.()\\[\\]{}'\"0-9+*/%<>=!&|?:, -]{0,60}") {
        let _ = Expression::compile(&source);
    }

    #[test]
    fn parsing_arbitrary_templates_never_panics(source in "[a-z ${}'\"\\\\.]{0,60}") {
        let _ = Template::parse(&source);
    }

    #[test]
    fn literal_text_round_trips(text in "[^$]{0,40}") {
        let template = Template::parse(&text).unwrap();
        proptest::prop_assert!(template.is_literal());
        proptest::prop_assert_eq!(template.render(&EvalContext::default()).unwrap(), serde_json::Value::String(text));
    }

    #[test]
    fn interpolated_strings_round_trip(prefix in "[a-zA-Z ]{0,10}", value in "[a-zA-Z0-9 ]{0,20}") {
        let template = Template::parse(&format!("{prefix}${{inputs.v}}")).unwrap();
        let context = EvalContext::new(json!({"v": value.clone()}));
        proptest::prop_assert_eq!(template.render(&context).unwrap(), json!(format!("{prefix}{value}")));
    }

    #[test]
    fn integers_round_trip_through_cel(value in proptest::num::i64::ANY) {
        let expression = Expression::compile("inputs.v + 0").unwrap();
        let context = EvalContext::new(json!({"v": value}));
        let result = expression.evaluate(&context);
        match value.checked_add(0) {
            Some(sum) => proptest::prop_assert_eq!(result.unwrap(), json!(sum)),
            None => proptest::prop_assert!(result.is_err()),
        }
    }
}

#[test]
fn xml_functions_parse_and_read_documents() {
    let mut context = EvalContext::new(json!({
        "xml": "<adf><prospect><vehicle interest='buy'><make>Toyota</make></vehicle>\
                <customer><contact><name part='first'>Ada</name><email preferredcontact='1'>ada@example.com</email>\
                </contact></customer></prospect></adf>",
        "bad": "<adf><prospect></adf>",
    }));
    context.set_step("noop", "completed", json!(null), None);
    let eval_in = |source: &str| Expression::compile(source).and_then(|e| e.evaluate(&context));
    assert_eq!(eval_in("xml.parse(inputs.xml).adf.prospect.vehicle.make").unwrap(), json!("Toyota"));
    assert_eq!(eval_in("xml.parse(inputs.xml).adf.prospect.vehicle['@interest']").unwrap(), json!("buy"));
    assert_eq!(
        eval_in("xml.parse(inputs.xml, ['vehicle', 'name']).adf.prospect.vehicle.map(v, v.make)").unwrap(),
        json!(["Toyota"])
    );
    let first = "xml.parse(inputs.xml, ['name']).adf.prospect.customer.contact.name\
                 .filter(n, n['@part'] == 'first').map(n, xml.text(n))";
    assert_eq!(eval_in(first).unwrap(), json!(["Ada"]));
    assert_eq!(
        eval_in("xml.text(xml.parse(inputs.xml).adf.prospect.customer.contact.email)").unwrap(),
        json!("ada@example.com")
    );
    assert_eq!(eval_in("xml.text('plain')").unwrap(), json!("plain"));
    let error = eval_in("xml.parse(inputs.bad)").unwrap_err();
    assert!(matches!(&error, ExprError::Evaluation(message) if message.contains("xml.parse")), "{error}");
    assert!(matches!(eval_in("xml.parse(5)"), Err(ExprError::Evaluation(_))));
    // `xml` is a function namespace, not a variable: the analysis accepts it and records nothing
    let compiled = Expression::compile("xml.parse(inputs.xml)").unwrap();
    assert_eq!(compiled.references().variables.iter().collect::<Vec<_>>(), ["inputs"]);
}
