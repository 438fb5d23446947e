//! Expression checks: every expression and template compiles, reads only declared inputs,
//! reads only steps that have finished before it is evaluated, and uses `item`/`index`/`event`
//! only where they exist.

use std::collections::BTreeSet;

use auterity_types::error::FieldError;

use super::graph::Graph;
use crate::definition::{ExprForm, ExprSite, SitePlace, StepKind, WorkflowDefinition, value_template_sites};
use crate::expr::{Expression, References, Template};

/// What an expression at some place may read.
struct Scope<'s> {
    visible: &'s BTreeSet<usize>,
    /// Extra steps visible (a block's own steps, for its `output`).
    also: &'s [usize],
    item: bool,
    event: bool,
}

pub(super) fn check_expressions(definition: &WorkflowDefinition, graph: &Graph<'_>, errors: &mut Vec<FieldError>) {
    let top_level: BTreeSet<usize> = graph.blocks[0].steps.iter().copied().collect();
    if let Some(output) = &definition.output {
        let scope = Scope { visible: &top_level, also: &[], item: false, event: false };
        for site in value_template_sites("/output", output) {
            check_site(definition, graph, &site, "", None, &scope, errors);
        }
    }
    for (index, node) in graph.nodes.iter().enumerate() {
        for site in node.step.expression_sites() {
            let block_steps: Vec<usize> = match site.place {
                SitePlace::BlockOutput(position) => graph
                    .blocks_of
                    .get(&index)
                    .and_then(|blocks| blocks.get(position))
                    .map(|block| graph.blocks[*block].steps.clone())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let foreach_output =
                matches!(site.place, SitePlace::BlockOutput(_)) && matches!(node.step.kind, StepKind::Foreach(_));
            let scope = Scope {
                visible: &graph.visible[index],
                also: &block_steps,
                item: node.in_foreach || foreach_output,
                event: site.place == SitePlace::EventFilter,
            };
            check_site(definition, graph, &site, &node.pointer, Some(index), &scope, errors);
        }
    }
}

fn check_site(
    definition: &WorkflowDefinition,
    graph: &Graph<'_>,
    site: &ExprSite<'_>,
    step_pointer: &str,
    step: Option<usize>,
    scope: &Scope<'_>,
    errors: &mut Vec<FieldError>,
) {
    let pointer = format!("{step_pointer}{}", site.pointer);
    let references = match site.form {
        ExprForm::Expression => Expression::compile(site.source).map(|expression| expression.references().clone()),
        ExprForm::Template => Template::parse(site.source).map(|template| template.references()),
    };
    let references = match references {
        Ok(references) => references,
        Err(error) => {
            errors.push(FieldError::new(pointer, error.to_string()));
            return;
        }
    };
    check_references(definition, graph, &references, &pointer, step, scope, errors);
}

fn check_references(
    definition: &WorkflowDefinition,
    graph: &Graph<'_>,
    references: &References,
    pointer: &str,
    step: Option<usize>,
    scope: &Scope<'_>,
    errors: &mut Vec<FieldError>,
) {
    for variable in &references.variables {
        let problem = match variable.as_str() {
            "item" | "index" if !scope.item => Some(format!("'{variable}' is only available inside a foreach")),
            "event" if !scope.event => Some("'event' is only available in a wait_event filter".to_owned()),
            _ => None,
        };
        if let Some(problem) = problem {
            errors.push(FieldError::new(pointer, problem));
        }
    }
    for input in &references.inputs {
        if !definition.inputs.contains_key(input) {
            errors.push(FieldError::new(pointer, format!("unknown input '{input}'")));
        }
    }
    for id in &references.steps {
        let Some(&target) = graph.by_id.get(id.as_str()) else {
            errors.push(FieldError::new(pointer, format!("unknown step '{id}'")));
            continue;
        };
        if scope.visible.contains(&target) || scope.also.contains(&target) {
            continue;
        }
        let problem = if Some(target) == step {
            "a step cannot read its own output".to_owned()
        } else if !encloses(graph, graph.nodes[target].block, step.map_or(0, |index| graph.nodes[index].block)) {
            format!("step '{id}' is inside a parallel branch or foreach body: read its container's output instead")
        } else {
            format!("step '{id}' does not run before this point (it is not upstream)")
        };
        errors.push(FieldError::new(pointer, problem));
    }
}

/// Whether `outer` is `inner` or one of the blocks containing it.
fn encloses(graph: &Graph<'_>, outer: usize, inner: usize) -> bool {
    let mut current = Some(inner);
    while let Some(block) = current {
        if block == outer {
            return true;
        }
        current = graph.blocks[block].container.map(|container| graph.nodes[container].block);
    }
    false
}
