//! Where a step points (its outgoing edges) and where it holds expressions, each with the JSON
//! pointer (RFC 6901) of the field relative to the step. Validation and the engine share these
//! lists so that a new field cannot be validated in one place and forgotten in the other.

use serde_json::Value;

use super::{Step, StepKind, StepTargets};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    Next,
    Then,
    Else,
    Case(usize),
    Default,
    OnTimeout,
    OnReject,
}

/// One outgoing reference to another step of the same block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge<'a> {
    pub kind: EdgeKind,
    pub target: &'a str,
    /// Pointer of the reference, relative to the step (`/next/1`, `/cases/0/next`).
    pub pointer: String,
}

/// How a field's text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExprForm {
    /// The whole string is one CEL expression (`if`, `when`, `items`, `filter`, `until`).
    Expression,
    /// A string with `${…}` interpolations.
    Template,
}

/// Where an expression is evaluated, which decides what it may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SitePlace {
    /// Evaluated when the step runs: sees the step's upstream steps.
    Step,
    /// A `wait_event` filter: also sees `event`.
    EventFilter,
    /// The `output` of the step's `index`-th block (parallel branch or foreach body): also sees
    /// that block's steps (and `item`/`index` for foreach).
    BlockOutput(usize),
}

/// One expression-bearing string of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprSite<'a> {
    pub pointer: String,
    pub form: ExprForm,
    pub place: SitePlace,
    pub source: &'a str,
}

/// Escapes one reference token of a JSON pointer (RFC 6901 §3).
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl Step {
    /// Outgoing edges in the order they appear.
    pub fn edges(&self) -> Vec<Edge<'_>> {
        let mut edges = Vec::new();
        push_edges(&mut edges, EdgeKind::Next, "/next", self.next.as_ref());
        match &self.kind {
            StepKind::Condition(condition) => {
                push_edges(&mut edges, EdgeKind::Then, "/then", condition.then_next.as_ref());
                push_edges(&mut edges, EdgeKind::Else, "/else", condition.else_next.as_ref());
            }
            StepKind::Switch(switch) => {
                for (index, case) in switch.cases.iter().enumerate() {
                    let field = format!("/cases/{index}/next");
                    push_edges(&mut edges, EdgeKind::Case(index), &field, Some(&case.next));
                }
                push_edges(&mut edges, EdgeKind::Default, "/default", switch.default.as_ref());
            }
            StepKind::WaitEvent(wait) => {
                push_edges(&mut edges, EdgeKind::OnTimeout, "/on_timeout", wait.on_timeout.as_ref());
            }
            StepKind::Approval(approval) => {
                push_edges(&mut edges, EdgeKind::OnReject, "/on_reject", approval.on_reject.as_ref());
                push_edges(&mut edges, EdgeKind::OnTimeout, "/on_timeout", approval.on_timeout.as_ref());
            }
            _ => {}
        }
        edges
    }

    /// Every expression and template the step holds, nested blocks' steps excluded (they are
    /// steps of their own) but the blocks' `output` templates included.
    pub fn expression_sites(&self) -> Vec<ExprSite<'_>> {
        let mut sites = Sites::default();
        if let Some(key) = &self.idempotency_key {
            sites.template("/idempotency_key", key);
        }
        match &self.kind {
            StepKind::Http(http) => {
                sites.template("/url", &http.url);
                for (name, value) in &http.headers {
                    sites.template(&format!("/headers/{}", escape_token(name)), value);
                }
                if let Some(body) = &http.body {
                    sites.value("/body", body, SitePlace::Step);
                }
            }
            StepKind::Ai(ai) => {
                sites.template("/model", &ai.model);
                if let Some(prompt) = &ai.prompt {
                    sites.template("/prompt", prompt);
                }
                if let Some(system) = &ai.system {
                    sites.template("/system", system);
                }
                for (index, message) in ai.messages.iter().flatten().enumerate() {
                    sites.template(&format!("/messages/{index}/content"), &message.content);
                }
            }
            StepKind::Model(model) => sites.value("/input", &model.input, SitePlace::Step),
            StepKind::McpTool(tool) => {
                if let Some(arguments) = &tool.arguments {
                    sites.value("/arguments", arguments, SitePlace::Step);
                }
            }
            StepKind::Transform(transform) => sites.value("/output", &transform.output, SitePlace::Step),
            StepKind::Condition(condition) => sites.expression("/if", &condition.condition, SitePlace::Step),
            StepKind::Switch(switch) => {
                for (index, case) in switch.cases.iter().enumerate() {
                    sites.expression(&format!("/cases/{index}/when"), &case.when, SitePlace::Step);
                }
            }
            StepKind::Parallel(parallel) => {
                for (index, branch) in parallel.branches.iter().enumerate() {
                    if let Some(output) = &branch.block.output {
                        sites.value(&format!("/branches/{index}/output"), output, SitePlace::BlockOutput(index));
                    }
                }
            }
            StepKind::Foreach(foreach) => {
                sites.expression("/items", &foreach.items, SitePlace::Step);
                if let Some(output) = &foreach.body.output {
                    sites.value("/output", output, SitePlace::BlockOutput(0));
                }
            }
            StepKind::Delay(delay) => {
                if let Some(until) = &delay.until {
                    sites.expression("/until", until, SitePlace::Step);
                }
            }
            StepKind::WaitEvent(wait) => {
                if let Some(filter) = &wait.filter {
                    sites.expression("/filter", filter, SitePlace::EventFilter);
                }
            }
            StepKind::Approval(approval) => {
                if let Some(message) = &approval.message {
                    sites.template("/message", message);
                }
            }
            StepKind::Subworkflow(sub) => {
                for (name, value) in &sub.inputs {
                    sites.value(&format!("/inputs/{}", escape_token(name)), value, SitePlace::Step);
                }
            }
            StepKind::Notify(notify) => {
                if let Some(url) = &notify.url {
                    sites.template("/url", url);
                }
                for (name, value) in &notify.headers {
                    sites.template(&format!("/headers/{}", escape_token(name)), value);
                }
                for (index, to) in notify.to.iter().enumerate() {
                    sites.template(&format!("/to/{index}"), to);
                }
                if let Some(subject) = &notify.subject {
                    sites.template("/subject", subject);
                }
                sites.value("/body", &notify.body, SitePlace::Step);
            }
        }
        sites.0
    }
}

fn push_edges<'a>(edges: &mut Vec<Edge<'a>>, kind: EdgeKind, field: &str, targets: Option<&'a StepTargets>) {
    let Some(targets) = targets else { return };
    for (index, target) in targets.ids().enumerate() {
        edges.push(Edge { kind, target, pointer: format!("{field}{}", targets.pointer_suffix(index)) });
    }
}

#[derive(Default)]
struct Sites<'a>(Vec<ExprSite<'a>>);

impl<'a> Sites<'a> {
    fn template(&mut self, pointer: &str, source: &'a str) {
        self.0.push(ExprSite { pointer: pointer.to_owned(), form: ExprForm::Template, place: SitePlace::Step, source });
    }

    fn expression(&mut self, pointer: &str, source: &'a str, place: SitePlace) {
        self.0.push(ExprSite { pointer: pointer.to_owned(), form: ExprForm::Expression, place, source });
    }

    /// Every string inside a value template is a template; keys are literal.
    fn value(&mut self, pointer: &str, value: &'a Value, place: SitePlace) {
        match value {
            Value::String(source) => {
                self.0.push(ExprSite { pointer: pointer.to_owned(), form: ExprForm::Template, place, source });
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.value(&format!("{pointer}/{index}"), item, place);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.value(&format!("{pointer}/{}", escape_token(key)), item, place);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// Sites of a value template outside any step (the workflow's `output`).
pub(crate) fn value_template_sites<'a>(pointer: &str, value: &'a Value) -> Vec<ExprSite<'a>> {
    let mut sites = Sites::default();
    sites.value(pointer, value, SitePlace::Step);
    sites.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_edges_with_pointers() {
        let step: Step = serde_json::from_value(json!({
            "id": "route", "kind": "switch",
            "cases": [{"when": "true", "next": "a"}, {"when": "false", "next": ["b", "c"]}],
            "default": "d"
        }))
        .unwrap();
        let pointers: Vec<_> = step.edges().iter().map(|edge| (edge.target, edge.pointer.clone())).collect();
        assert_eq!(
            pointers,
            [
                ("a", "/cases/0/next".to_owned()),
                ("b", "/cases/1/next/0".to_owned()),
                ("c", "/cases/1/next/1".to_owned()),
                ("d", "/default".to_owned())
            ]
        );
    }

    #[test]
    fn lists_template_sites_inside_values() {
        let step: Step = serde_json::from_value(json!({
            "id": "post", "kind": "http", "method": "POST", "url": "https://x/${inputs.id}",
            "headers": {"a/b": "${secrets.token}"},
            "body": {"lead": {"name": "${inputs.name}", "tags": ["x", 1]}}
        }))
        .unwrap();
        let pointers: Vec<_> = step.expression_sites().iter().map(|site| site.pointer.clone()).collect();
        assert_eq!(pointers, ["/url", "/headers/a~1b", "/body/lead/name", "/body/lead/tags/0"]);
    }
}
