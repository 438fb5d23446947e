//! The graph checks: unique ids, references resolve within their block, every step is reachable
//! from its block's entry, no cycles, compensation handlers are off the normal flow. Also works
//! out, for every step, which steps have certainly finished before it runs ("visible" steps),
//! for the expression checks.

use std::collections::{BTreeSet, HashMap};

use auterity_types::error::FieldError;

use crate::definition::{Block, Step, StepKind, StepTargets, WorkflowDefinition};

/// One step, located.
pub(super) struct StepNode<'a> {
    pub step: &'a Step,
    /// JSON pointer of the step object.
    pub pointer: String,
    pub block: usize,
    /// Inside a `foreach` body, at any depth: `item` and `index` exist.
    pub in_foreach: bool,
}

/// One sub-graph: the top-level steps (block 0), a parallel branch or a foreach body.
pub(super) struct BlockNode<'a> {
    /// Pointer of the object holding `start`/`steps` (`""` at the top level).
    pub pointer: String,
    pub start: Option<&'a StepTargets>,
    pub steps: Vec<usize>,
    /// The `parallel`/`foreach` step owning the block.
    pub container: Option<usize>,
}

pub(super) struct Graph<'a> {
    pub nodes: Vec<StepNode<'a>>,
    pub blocks: Vec<BlockNode<'a>>,
    pub by_id: HashMap<&'a str, usize>,
    /// Step → steps finished before it, whatever path the run takes.
    pub visible: Vec<BTreeSet<usize>>,
    /// Parallel/foreach step → its blocks, in order.
    pub blocks_of: HashMap<usize, Vec<usize>>,
}

impl<'a> Graph<'a> {
    pub fn build(definition: &'a WorkflowDefinition, errors: &mut Vec<FieldError>) -> Self {
        let mut graph = Graph {
            nodes: Vec::new(),
            blocks: Vec::new(),
            by_id: HashMap::new(),
            visible: Vec::new(),
            blocks_of: HashMap::new(),
        };
        graph.add_block(String::new(), definition.start.as_ref(), &definition.steps, None, false);
        for (index, node) in graph.nodes.iter().enumerate() {
            if let Some(first) = graph.by_id.get(node.step.id.as_str()) {
                let first_pointer = &graph.nodes[*first].pointer;
                errors.push(FieldError::new(
                    format!("{}/id", node.pointer),
                    format!("duplicate step id '{}' (first used at {first_pointer})", node.step.id),
                ));
            } else {
                graph.by_id.insert(node.step.id.as_str(), index);
            }
        }
        graph.visible = vec![BTreeSet::new(); graph.nodes.len()];
        for block in 0..graph.blocks.len() {
            graph.check_block(block, errors);
        }
        graph
    }

    fn add_block(
        &mut self,
        pointer: String,
        start: Option<&'a StepTargets>,
        steps: &'a [Step],
        container: Option<usize>,
        in_foreach: bool,
    ) -> usize {
        let block = self.blocks.len();
        self.blocks.push(BlockNode { pointer: pointer.clone(), start, steps: Vec::new(), container });
        for (position, step) in steps.iter().enumerate() {
            let index = self.nodes.len();
            let step_pointer = format!("{pointer}/steps/{position}");
            self.nodes.push(StepNode { step, pointer: step_pointer.clone(), block, in_foreach });
            self.blocks[block].steps.push(index);
            let nested_in_foreach = in_foreach || matches!(step.kind, StepKind::Foreach(_));
            for (suffix, nested) in step.kind.blocks_with_pointers() {
                let nested_block = self.add_nested(format!("{step_pointer}{suffix}"), nested, index, nested_in_foreach);
                self.blocks_of.entry(index).or_default().push(nested_block);
            }
        }
        block
    }

    fn add_nested(&mut self, pointer: String, block: &'a Block, container: usize, in_foreach: bool) -> usize {
        self.add_block(pointer, block.start.as_ref(), &block.steps, Some(container), in_foreach)
    }

    /// Resolves a reference from inside `block`, reporting at `pointer` when it cannot.
    fn resolve(&self, block: usize, id: &str, pointer: String, errors: &mut Vec<FieldError>) -> Option<usize> {
        let Some(&target) = self.by_id.get(id) else {
            errors.push(FieldError::new(pointer, format!("unknown step '{id}'")));
            return None;
        };
        if self.nodes[target].block != block {
            errors.push(FieldError::new(
                pointer,
                format!("step '{id}' is in another block: references stay within their own steps list"),
            ));
            return None;
        }
        Some(target)
    }

    fn check_block(&mut self, block: usize, errors: &mut Vec<FieldError>) {
        let members = self.blocks[block].steps.clone();
        let pointer = self.blocks[block].pointer.clone();
        // edges, and compensation handlers
        let mut successors: HashMap<usize, Vec<(usize, String)>> = HashMap::new();
        let mut handlers: HashMap<usize, (usize, String)> = HashMap::new();
        for &index in &members {
            let node = &self.nodes[index];
            for edge in node.step.edges() {
                let edge_pointer = format!("{}{}", node.pointer, edge.pointer);
                if let Some(target) = self.resolve(block, edge.target, edge_pointer.clone(), errors) {
                    successors.entry(index).or_default().push((target, edge_pointer));
                }
            }
            if let Some(handler_id) = &node.step.compensate {
                let reference = format!("{}/compensate", node.pointer);
                let Some(handler) = self.resolve(block, handler_id, reference.clone(), errors) else { continue };
                if handler == index {
                    errors.push(FieldError::new(reference, "a step cannot compensate itself"));
                } else if let Some((_, first)) = handlers.get(&handler) {
                    errors.push(FieldError::new(
                        reference,
                        format!("step '{handler_id}' already compensates another step ({first})"),
                    ));
                } else {
                    handlers.insert(handler, (index, reference));
                }
            }
        }
        for (&handler, (_, reference)) in &handlers {
            if !self.nodes[handler].step.edges().is_empty() {
                errors.push(FieldError::new(
                    reference.clone(),
                    format!("compensation step '{}' must not route onwards (no next)", self.nodes[handler].step.id),
                ));
            }
        }
        // entry
        let mut entries = Vec::new();
        let mut entries_resolved = true;
        match self.blocks[block].start {
            Some(start) => {
                for (position, id) in start.ids().enumerate() {
                    let start_pointer = format!("{pointer}/start{}", start.pointer_suffix(position));
                    match self.resolve(block, id, start_pointer, errors) {
                        Some(entry) => entries.push(entry),
                        None => entries_resolved = false,
                    }
                }
            }
            None => entries.extend(members.first().copied()),
        }
        // reachability
        let mut reached: BTreeSet<usize> = BTreeSet::new();
        let mut stack = entries.clone();
        while let Some(index) = stack.pop() {
            if reached.insert(index) {
                stack.extend(successors.get(&index).into_iter().flatten().map(|(target, _)| *target));
            }
        }
        // with a broken `start`, "unreachable" would only repeat that one problem for every step
        for &index in members.iter().filter(|_| entries_resolved) {
            let node = &self.nodes[index];
            match (reached.contains(&index), handlers.get(&index)) {
                (true, Some((_, reference))) => errors.push(FieldError::new(
                    reference.clone(),
                    format!("compensation step '{}' must not also be part of the normal flow", node.step.id),
                )),
                (false, None) => errors.push(FieldError::new(
                    node.pointer.clone(),
                    format!("step '{}' is not reachable from the entry step", node.step.id),
                )),
                _ => {}
            }
        }
        let order = self.check_cycles(&members, &successors, errors);
        self.compute_visible(block, &order, &successors, &handlers);
    }

    /// Reports every back edge as a cycle; returns the members in a topological order of the
    /// graph without those edges.
    fn check_cycles(
        &self,
        members: &[usize],
        successors: &HashMap<usize, Vec<(usize, String)>>,
        errors: &mut Vec<FieldError>,
    ) -> Vec<usize> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut marks: HashMap<usize, Mark> = members.iter().map(|index| (*index, Mark::New)).collect();
        let mut post_order = Vec::new();
        for &root in members {
            if marks.get(&root) != Some(&Mark::New) {
                continue;
            }
            // iterative DFS: (node, next successor position)
            let mut path: Vec<(usize, usize)> = vec![(root, 0)];
            marks.insert(root, Mark::Open);
            while let Some((node, position)) = path.last().copied() {
                let outgoing = successors.get(&node).map(Vec::as_slice).unwrap_or_default();
                let Some((target, edge_pointer)) = outgoing.get(position) else {
                    marks.insert(node, Mark::Done);
                    post_order.push(node);
                    path.pop();
                    continue;
                };
                if let Some(last) = path.last_mut() {
                    last.1 += 1;
                }
                match marks.get(target).copied().unwrap_or(Mark::Done) {
                    Mark::New => {
                        marks.insert(*target, Mark::Open);
                        path.push((*target, 0));
                    }
                    Mark::Open => {
                        let from = path.iter().position(|(open, _)| open == target).unwrap_or(0);
                        let mut cycle: Vec<&str> =
                            path[from..].iter().map(|(open, _)| self.nodes[*open].step.id.as_str()).collect();
                        cycle.push(self.nodes[*target].step.id.as_str());
                        errors.push(FieldError::new(
                            edge_pointer.clone(),
                            format!(
                                "creates a cycle {}: steps form a DAG, repeat work with foreach",
                                cycle.join(" → ")
                            ),
                        ));
                    }
                    Mark::Done => {}
                }
            }
        }
        post_order.reverse();
        post_order
    }

    /// Visible(step) = its ancestors in its block, plus what its block's container sees.
    /// A compensation handler sees the step it compensates and what that step sees.
    fn compute_visible(
        &mut self,
        block: usize,
        order: &[usize],
        successors: &HashMap<usize, Vec<(usize, String)>>,
        handlers: &HashMap<usize, (usize, String)>,
    ) {
        let outer = match self.blocks[block].container {
            Some(container) => self.visible[container].clone(),
            None => BTreeSet::new(),
        };
        let position: HashMap<usize, usize> = order.iter().enumerate().map(|(rank, index)| (*index, rank)).collect();
        for &index in order {
            self.visible[index].extend(outer.iter().copied());
        }
        for &index in order {
            let mut seen = self.visible[index].clone();
            seen.insert(index);
            for (target, _) in successors.get(&index).into_iter().flatten() {
                // only forward edges in the order: back edges are already reported as cycles
                if position.get(target) > position.get(&index) {
                    self.visible[*target].extend(seen.iter().copied());
                }
            }
        }
        for (&handler, (compensated, _)) in handlers {
            let mut seen = self.visible[*compensated].clone();
            seen.insert(*compensated);
            self.visible[handler] = seen;
        }
    }
}
