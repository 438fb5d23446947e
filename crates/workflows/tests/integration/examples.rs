//! The example definitions validate, round-trip, and their expressions evaluate.

use auterity_workflows::expr::{EvalContext, Template, ValueTemplate};
use auterity_workflows::{StepKind, validate, validate_inputs};
use serde_json::json;

use crate::example_definitions;

#[test]
fn there_are_examples_of_every_step_kind() {
    let mut kinds = std::collections::BTreeSet::new();
    for (name, value) in example_definitions() {
        let definition = validate(&value).unwrap_or_else(|errors| panic!("{name}: {errors:#?}"));
        kinds.extend(definition.all_steps().iter().map(|step| step.kind.name()));
    }
    let all: std::collections::BTreeSet<_> = StepKind::NAMES.into_iter().collect();
    assert_eq!(kinds, all);
}

#[test]
fn every_example_validates_and_round_trips() {
    let examples = example_definitions();
    assert!(examples.len() >= 4);
    for (name, value) in examples {
        let definition = validate(&value).unwrap_or_else(|errors| panic!("{name}: {errors:#?}"));
        let serialized = serde_json::to_value(&definition).unwrap();
        let again = validate(&serialized).unwrap_or_else(|errors| panic!("{name} after round trip: {errors:#?}"));
        assert_eq!(again, definition, "{name}");
    }
}

#[test]
fn lead_intake_inputs_get_defaults_and_templates_render() {
    let (_, value) = example_definitions().into_iter().find(|(name, _)| name == "lead-intake.json").unwrap();
    let definition = validate(&value).unwrap();
    let inputs = validate_inputs(&definition, &json!({"email": "ada@example.com", "name": "Ada"})).unwrap();
    assert_eq!(inputs["source"], "website");
    assert_eq!(inputs["vehicle_interest"], "any");
    let errors = validate_inputs(&definition, &json!({"email": "not-an-email", "source": "fax"})).unwrap_err();
    let mut pointers: Vec<_> = errors.iter().map(|error| error.pointer.as_str()).collect();
    pointers.sort_unstable();
    assert_eq!(pointers, ["/inputs/email", "/inputs/name", "/inputs/source"]);

    let mut context = EvalContext::new(inputs);
    context.env.insert("crm_base_url".into(), json!("https://crm.example"));
    context.secrets.insert("crm_token".into(), "t0ken".to_owned().into());
    let lookup = definition.step("lookup_customer").unwrap();
    let StepKind::Http(http) = &lookup.kind else { panic!("lookup_customer is not http") };
    let url = Template::parse(&http.url).unwrap();
    assert_eq!(url.render_string(&context).unwrap(), "https://crm.example/customers?email=ada@example.com");
    let authorization = Template::parse(&http.headers["Authorization"]).unwrap();
    assert_eq!(authorization.references().secrets.into_iter().collect::<Vec<_>>(), ["crm_token"]);
    assert_eq!(authorization.render_string(&context).unwrap(), "Bearer t0ken");

    context.set_step("score_lead", "completed", json!({"json": {"score": 81}}), None);
    context.set_step("is_hot", "completed", json!({"result": true}), None);
    context.set_step("create_deal", "skipped", json!(null), None);
    let output = ValueTemplate::compile(definition.output.as_ref().unwrap()).unwrap();
    assert_eq!(output.render(&context).unwrap(), json!({"score": 81, "hot": true, "deal_id": null}));
}

#[test]
fn inventory_foreach_body_sees_item_and_index() {
    let (_, value) = example_definitions().into_iter().find(|(name, _)| name == "inventory-sync.json").unwrap();
    let definition = validate(&value).unwrap();
    let StepKind::Transform(normalize) = &definition.step("normalize").unwrap().kind else { panic!("not transform") };
    let item = json!({"vin": "1hgcm82633a004352", "price": 21500, "year": 2021, "make": "Honda", "model": "Accord"});
    let context = EvalContext { item: Some(item), index: Some(3), ..EvalContext::default() };
    let rendered = ValueTemplate::compile(&normalize.output).unwrap().render(&context).unwrap();
    assert_eq!(
        rendered,
        json!({"vin": "1HGCM82633A004352", "price": 21500.0, "position": 3, "title": "2021 Honda Accord"})
    );
}
