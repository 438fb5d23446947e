//! Step-instance keys and where they sit in the definition's graph.
//!
//! A top-level step's key is its id. A step inside a `parallel` branch is
//! `<parallel key>/<branch name>/<step id>`; inside a `foreach` body, item `i`, it is
//! `<foreach key>[i]/<step id>`. A container's join is `<container key>#join`. Step ids and branch
//! names therefore never contain `/`, `[` or `#` (the engine refuses such definitions).

use crate::definition::{Block, Step, StepKind, StepTargets, WorkflowDefinition};

pub const JOIN_SUFFIX: &str = "#join";

/// Where a step instance lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Top,
    Branch { container_key: String, branch: String },
    Item { container_key: String, index: usize },
}

impl Scope {
    /// The prefix every key in this scope starts with.
    pub fn prefix(&self) -> String {
        match self {
            Scope::Top => String::new(),
            Scope::Branch { container_key, branch } => format!("{container_key}/{branch}/"),
            Scope::Item { container_key, index } => format!("{container_key}[{index}]/"),
        }
    }

    pub fn container_key(&self) -> Option<&str> {
        match self {
            Scope::Top => None,
            Scope::Branch { container_key, .. } | Scope::Item { container_key, .. } => Some(container_key),
        }
    }
}

/// Splits a key into its scope and step id.
pub fn parse_key(key: &str) -> (Scope, &str) {
    let Some((prefix, step_id)) = key.rsplit_once('/') else {
        return (Scope::Top, key);
    };
    if let Some(open) = prefix.rfind('[')
        && prefix.ends_with(']')
        && let Ok(index) = prefix[open + 1..prefix.len() - 1].parse::<usize>()
    {
        return (Scope::Item { container_key: prefix[..open].to_owned(), index }, step_id);
    }
    match prefix.rsplit_once('/') {
        Some((container_key, branch)) => {
            (Scope::Branch { container_key: container_key.to_owned(), branch: branch.to_owned() }, step_id)
        }
        // A branch of a top-level parallel: `<parallel id>/<branch>/<step>` has two slashes, so a
        // single slash cannot occur; treat it as top level defensively.
        None => (Scope::Top, step_id),
    }
}

/// The step id of the container a key names (its last segment, without an item index).
pub fn step_id_of_key(key: &str) -> &str {
    let (_, id) = parse_key(key);
    id
}

pub fn join_key(container_key: &str) -> String {
    format!("{container_key}{JOIN_SUFFIX}")
}

/// The steps of the block a scope refers to.
pub fn block_of<'a>(definition: &'a WorkflowDefinition, scope: &Scope) -> Option<&'a Block> {
    let container_key = scope.container_key()?;
    let container = definition.step(step_id_of_key(container_key))?;
    match (&container.kind, scope) {
        (StepKind::Parallel(parallel), Scope::Branch { branch, .. }) => {
            parallel.branches.iter().find(|b| &b.name == branch).map(|b| &b.block)
        }
        (StepKind::Foreach(foreach), Scope::Item { .. }) => Some(&foreach.body),
        _ => None,
    }
}

/// A step of a scope by id: top-level steps for `Top`, the block's steps otherwise.
pub fn step_in_scope<'a>(definition: &'a WorkflowDefinition, scope: &Scope, id: &str) -> Option<&'a Step> {
    match scope {
        Scope::Top => definition.steps.iter().find(|s| s.id == id),
        _ => block_of(definition, scope)?.steps.iter().find(|s| s.id == id),
    }
}

pub fn target_ids(targets: Option<&StepTargets>) -> Vec<String> {
    targets.map(|t| t.ids().map(str::to_owned).collect()).unwrap_or_default()
}

/// A definition the engine can run: ids and branch names are usable in keys.
pub fn check_keyable(definition: &WorkflowDefinition) -> Result<(), String> {
    let bad = |s: &str| s.contains('/') || s.contains('[') || s.contains('#') || s.contains(']');
    for step in definition.all_steps() {
        if bad(&step.id) {
            return Err(format!("step id {:?} must not contain '/', '[', ']' or '#'", step.id));
        }
        if let StepKind::Parallel(parallel) = &step.kind {
            for branch in &parallel.branches {
                if bad(&branch.name) {
                    return Err(format!("branch name {:?} must not contain '/', '[', ']' or '#'", branch.name));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert_eq!(parse_key("fetch"), (Scope::Top, "fetch"));
        assert_eq!(
            parse_key("fan/left/call"),
            (Scope::Branch { container_key: "fan".into(), branch: "left".into() }, "call")
        );
        assert_eq!(parse_key("each[3]/call"), (Scope::Item { container_key: "each".into(), index: 3 }, "call"));
        assert_eq!(
            parse_key("fan/left/each[0]/call"),
            (Scope::Item { container_key: "fan/left/each".into(), index: 0 }, "call")
        );
        assert_eq!(step_id_of_key("fan/left/each"), "each");
        assert_eq!(Scope::Item { container_key: "each".into(), index: 2 }.prefix(), "each[2]/");
        assert_eq!(join_key("fan"), "fan#join");
    }
}
