//! The template library: ready-to-run workflow definitions shipped inside the binary
//! (`crates/workflows/templates/*.json`, embedded with `include_str!`), and creating a workflow
//! from one. Every template is validated by a unit test, so a broken one never ships.

use std::sync::LazyLock;

use auterity_types::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::service::{SavedWorkflow, WorkflowError, WorkflowService};

/// One template: what it is for, an example of its inputs, and the definition itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Stable identifier, also the default name of a workflow created from it.
    pub id: String,
    pub title: String,
    pub description: String,
    /// `dealership`, `clinical`, …
    pub category: String,
    pub tags: Vec<String>,
    /// Inputs a run of the definition accepts, for people and the designer.
    pub inputs_example: Value,
    /// A workflow definition (`auterity.workflow/v1`).
    pub definition: Value,
}

/// The source of every shipped template, in id order.
const SOURCES: [(&str, &str); 6] = [
    ("clinical-session", include_str!("../templates/clinical-session.json")),
    ("dealership-lead-intake-adf", include_str!("../templates/dealership-lead-intake-adf.json")),
    ("dms-inventory-sync", include_str!("../templates/dms-inventory-sync.json")),
    ("patient-onboarding", include_str!("../templates/patient-onboarding.json")),
    ("review-response-draft", include_str!("../templates/review-response-draft.json")),
    ("service-appointment-reminder", include_str!("../templates/service-appointment-reminder.json")),
];

/// The parsed library. A source that does not parse is left out here (and fails the unit test
/// that parses every source), so the server still starts.
static LIBRARY: LazyLock<Vec<Template>> = LazyLock::new(|| {
    let mut templates: Vec<Template> =
        SOURCES.iter().filter_map(|(_, source)| serde_json::from_str::<Template>(source).ok()).collect();
    templates.sort_by(|a, b| a.id.cmp(&b.id));
    templates
});

/// Every template, ordered by id.
pub fn all() -> &'static [Template] {
    &LIBRARY
}

pub fn get(id: &str) -> Option<&'static Template> {
    LIBRARY.iter().find(|template| template.id == id)
}

/// A page of the library: templates of `category` (all when `None`) with an id after `after`,
/// at most `limit`, ordered by id.
pub fn page(category: Option<&str>, after: Option<&str>, limit: usize) -> Vec<&'static Template> {
    LIBRARY
        .iter()
        .filter(|template| category.is_none_or(|category| template.category == category))
        .filter(|template| after.is_none_or(|after| template.id.as_str() > after))
        .take(limit)
        .collect()
}

/// The template's definition, renamed to `name` when given (a workflow name is unique in its
/// organization, so instantiating twice needs a second name).
pub fn definition_named(template: &Template, name: Option<&str>) -> Value {
    let mut definition = template.definition.clone();
    if let (Some(name), Value::Object(fields)) = (name, &mut definition) {
        fields.insert("name".to_owned(), Value::String(name.to_owned()));
    }
    definition
}

impl WorkflowService {
    /// Creates a workflow from a template, named `name` or after the template; the definition
    /// is validated like any other (an invalid `name` is reported at `/name`), and a name
    /// already taken is a conflict.
    pub async fn create_from_template(
        &self,
        org: OrgId,
        user: UserId,
        template_id: &str,
        name: Option<&str>,
    ) -> Result<SavedWorkflow, WorkflowError> {
        let template = get(template_id).ok_or(WorkflowError::NotFound("template"))?;
        self.create(org, user, definition_named(template, name)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::service::check_definition;
    use crate::expr::{EvalContext, Expression, ValueTemplate};
    use serde_json::json;

    #[test]
    fn every_source_parses_and_its_definition_validates() {
        assert_eq!(all().len(), SOURCES.len(), "a template source does not parse");
        for (id, source) in SOURCES {
            let template: Template = serde_json::from_str(source).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(template.id, id);
            assert_eq!(template.definition["name"], id, "{id}: the definition is named after the template");
            let definition = check_definition(&template.definition)
                .unwrap_or_else(|errors| panic!("{id} is invalid: {}", serde_json::to_string(&errors).unwrap()));
            crate::validate_inputs(&definition, &template.inputs_example)
                .unwrap_or_else(|errors| panic!("{id}: inputs_example: {}", serde_json::to_string(&errors).unwrap()));
            assert!(!template.tags.is_empty() && !template.description.is_empty());
        }
    }

    #[test]
    fn pages_filter_and_rename() {
        let dealership = page(Some("dealership"), None, 100);
        assert_eq!(dealership.len(), 4);
        assert!(dealership.iter().all(|t| t.category == "dealership"));
        let first = page(None, None, 2);
        let rest = page(None, Some(&first[1].id), 100);
        assert_eq!(first.len() + rest.len(), all().len());
        assert!(page(Some("nope"), None, 10).is_empty());
        let renamed = definition_named(get("dms-inventory-sync").unwrap(), Some("inventory-nightly"));
        assert_eq!(renamed["name"], "inventory-nightly");
        assert!(check_definition(&renamed).is_ok());
    }

    fn step<'a>(template: &'a Template, id: &str) -> &'a Value {
        template.definition["steps"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()
    }

    /// The ADF intake's parse and normalize steps over a real ADF document.
    #[test]
    fn adf_intake_normalizes_a_real_lead() {
        let template = get("dealership-lead-intake-adf").unwrap();
        let definition = crate::validate(&template.definition).unwrap();
        let inputs = crate::validate_inputs(&definition, &template.inputs_example).unwrap();
        let mut context = EvalContext::new(inputs);
        let parsed = ValueTemplate::compile(&step(template, "parse")["output"]).unwrap().render(&context).unwrap();
        context.set_step("parse", "completed", parsed, None);
        let lead = ValueTemplate::compile(&step(template, "normalize")["output"]).unwrap().render(&context).unwrap();
        assert_eq!(
            lead,
            json!({
                "first_name": "Maria", "last_name": "Lopez", "email": "maria.lopez@example.com", "phone": "5125550147",
                "vehicles": [{"interest": "buy", "year": "2025", "make": "Toyota", "model": "RAV4"}],
                "comments": "Is the RAV4 still available?", "request_date": "2025-12-06T22:41:00-06:00",
                "vendor": "Austin Toyota", "provider": "Cars.example Leads"
            })
        );
    }

    /// Quiet hours 21:00–08:00 in the dealership's zone: a lead at 22:41 local waits until 08:00
    /// the next morning, one at 14:00 local is followed up at once.
    #[test]
    fn adf_intake_moves_follow_up_out_of_quiet_hours() {
        let template = get("dealership-lead-intake-adf").unwrap();
        let plan = ValueTemplate::compile(&step(template, "follow_up_plan")["output"]).unwrap();
        let at = |received: &str, tz: &str, start: i64, end: i64| {
            let mut context =
                EvalContext::new(json!({"dealer_time_zone": tz, "quiet_hours_start": start, "quiet_hours_end": end}));
            context.set_step("settings", "completed", json!({"received_at": received}), None);
            plan.render(&context).unwrap()
        };
        // 22:41:30 in Chicago (UTC−6 in December) → 08:00 local = 14:00Z the next day
        let night = at("2025-12-07T04:41:30Z", "America/Chicago", 21, 8);
        assert_eq!(night, json!({"in_quiet_hours": true, "contact_at": "2025-12-07T14:00:00Z"}));
        // 06:15 local, still quiet → 08:00 the same day
        let early = at("2025-12-07T12:15:00Z", "America/Chicago", 21, 8);
        assert_eq!(early["contact_at"], "2025-12-07T14:00:00Z");
        // 14:00 local: no wait
        let day = at("2025-12-07T20:00:00Z", "America/Chicago", 21, 8);
        assert_eq!(day, json!({"in_quiet_hours": false, "contact_at": "2025-12-07T20:00:00Z"}));
        // a window that does not wrap midnight: quiet 12–13 in Berlin (UTC+1)
        let lunch = at("2025-12-07T11:30:00Z", "Europe/Berlin", 12, 13);
        assert_eq!(lunch, json!({"in_quiet_hours": true, "contact_at": "2025-12-07T12:00:00Z"}));
        // the delay step reads the plan
        let until = Expression::compile(step(template, "wait_for_business_hours")["until"].as_str().unwrap()).unwrap();
        let mut context = EvalContext::default();
        context.set_step("follow_up_plan", "completed", night, None);
        assert_eq!(until.evaluate(&context).unwrap(), "2025-12-07T14:00:00Z");
    }
}
