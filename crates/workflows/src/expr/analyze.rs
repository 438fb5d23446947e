//! Static analysis of a parsed CEL expression: enforces the AST limits, checks that every free
//! identifier is a known variable, and records what the expression reads (step ids, inputs,
//! secrets) so validation can check references and the engine can redact secrets.

use std::collections::BTreeSet;

use cel::common::ast::{EntryExpr, Expr, LiteralValue, operators};

use super::{ExprError, Limits, ROOT_VARIABLES};

/// Identifiers that name types, usable as values (`type(x) == string`).
const TYPE_NAMES: [&str; 11] =
    ["bool", "bytes", "double", "duration", "dyn", "int", "list", "map", "null_type", "string", "uint"];

/// Function namespaces of the enabled extensions (`math.greatest(…)`, `strings.quote(…)`,
/// `xml.parse(…)`).
const NAMESPACES: [&str; 4] = ["math", "strings", "optional", "xml"];

/// What an expression reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct References {
    /// Root variables used (`inputs`, `steps`, …).
    pub variables: BTreeSet<String>,
    /// Step ids read with a literal name (`steps.fetch`, `steps['fetch']`).
    pub steps: BTreeSet<String>,
    /// `steps` read with a computed key, or whole: which steps is unknown until run time.
    pub dynamic_steps: bool,
    /// Input names read with a literal name.
    pub inputs: BTreeSet<String>,
    /// `inputs` read with a computed key, or whole.
    pub dynamic_inputs: bool,
    /// Secret names read. Always complete: a computed secret name does not compile.
    pub secrets: BTreeSet<String>,
}

impl References {
    pub fn merge(&mut self, other: &References) {
        self.variables.extend(other.variables.iter().cloned());
        self.steps.extend(other.steps.iter().cloned());
        self.inputs.extend(other.inputs.iter().cloned());
        self.secrets.extend(other.secrets.iter().cloned());
        self.dynamic_steps |= other.dynamic_steps;
        self.dynamic_inputs |= other.dynamic_inputs;
    }
}

/// One step of a plain path: `.field`, `['field']` or `[3]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PathSegment {
    Field(String),
    Index(i64),
}

pub(crate) struct Analysis {
    pub references: References,
    /// Set when the whole expression is a root variable followed by literal segments.
    pub fast_path: Option<Vec<PathSegment>>,
    pub has_comprehension: bool,
}

pub(crate) fn analyze(expr: &cel::IdedExpr, limits: &Limits) -> Result<Analysis, ExprError> {
    let mut walker =
        Walker { limits, nodes: 0, bound: Vec::new(), references: References::default(), has_comprehension: false };
    walker.walk(expr, 1, 0)?;
    Ok(Analysis {
        references: walker.references,
        fast_path: fast_path(expr),
        has_comprehension: walker.has_comprehension,
    })
}

/// A link of a select/index chain, outermost first.
enum Link<'a> {
    Static(PathSegment),
    /// `[expr]` with a computed key; the key is walked on its own.
    Dynamic(&'a cel::IdedExpr),
    /// `has(…)` tests and optional selection: not a plain read.
    Test(PathSegment),
}

/// Splits `a.b['c'][i]` into its base (`a`) and links (outermost first).
fn unwind(expr: &cel::IdedExpr) -> (&cel::IdedExpr, Vec<Link<'_>>) {
    let mut links = Vec::new();
    let mut current = expr;
    loop {
        match &current.expr {
            Expr::Select(select) => {
                let segment = PathSegment::Field(select.field.clone());
                links.push(if select.test { Link::Test(segment) } else { Link::Static(segment) });
                current = &select.operand;
            }
            Expr::Call(call)
                if call.target.is_none()
                    && call.args.len() == 2
                    && matches!(
                        call.func_name.as_str(),
                        operators::INDEX | operators::OPT_INDEX | operators::OPT_SELECT
                    ) =>
            {
                let optional = call.func_name != operators::INDEX;
                let key = &call.args[1];
                let link = match literal_segment(key) {
                    Some(segment) if optional => Link::Test(segment),
                    Some(segment) => Link::Static(segment),
                    None => Link::Dynamic(key),
                };
                links.push(link);
                current = &call.args[0];
            }
            _ => return (current, links),
        }
    }
}

fn literal_segment(expr: &cel::IdedExpr) -> Option<PathSegment> {
    match &expr.expr {
        Expr::Literal(LiteralValue::String(text)) => Some(PathSegment::Field(text.inner().to_owned())),
        Expr::Literal(LiteralValue::Int(int)) => Some(PathSegment::Index(*int.inner())),
        Expr::Literal(LiteralValue::UInt(uint)) => i64::try_from(*uint.inner()).ok().map(PathSegment::Index),
        _ => None,
    }
}

fn fast_path(expr: &cel::IdedExpr) -> Option<Vec<PathSegment>> {
    let (base, links) = unwind(expr);
    let Expr::Ident(root) = &base.expr else { return None };
    if !ROOT_VARIABLES.contains(&root.as_str()) {
        return None;
    }
    let mut path = vec![PathSegment::Field(root.clone())];
    for link in links.into_iter().rev() {
        match link {
            Link::Static(segment) => path.push(segment),
            Link::Dynamic(_) | Link::Test(_) => return None,
        }
    }
    Some(path)
}

struct Walker<'l> {
    limits: &'l Limits,
    nodes: usize,
    /// Comprehension variables in scope, innermost last.
    bound: Vec<String>,
    references: References,
    has_comprehension: bool,
}

impl Walker<'_> {
    fn enter(&mut self, depth: usize) -> Result<(), ExprError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_ast_nodes {
            return Err(ExprError::TooComplex(format!("more than {} nodes", self.limits.max_ast_nodes)));
        }
        if depth > self.limits.max_ast_depth {
            return Err(ExprError::TooComplex(format!("nested deeper than {} levels", self.limits.max_ast_depth)));
        }
        Ok(())
    }

    fn is_bound(&self, name: &str) -> bool {
        self.bound.iter().any(|bound| bound == name)
    }

    fn walk(&mut self, expr: &cel::IdedExpr, depth: usize, nesting: usize) -> Result<(), ExprError> {
        self.enter(depth)?;
        match &expr.expr {
            Expr::Ident(name) => self.root_reference(name, None),
            Expr::Literal(_) => Ok(()),
            Expr::Select(_) => self.walk_chain(expr, depth, nesting),
            Expr::Call(call) => {
                let is_chain = call.target.is_none()
                    && call.args.len() == 2
                    && matches!(
                        call.func_name.as_str(),
                        operators::INDEX | operators::OPT_INDEX | operators::OPT_SELECT
                    );
                if is_chain {
                    return self.walk_chain(expr, depth, nesting);
                }
                if let Some(target) = &call.target {
                    let namespace = matches!(&target.expr, Expr::Ident(name)
                        if NAMESPACES.contains(&name.as_str()) && !self.is_bound(name));
                    if namespace {
                        self.enter(depth + 1)?;
                    } else {
                        self.walk(target, depth + 1, nesting)?;
                    }
                }
                for arg in &call.args {
                    self.walk(arg, depth + 1, nesting)?;
                }
                Ok(())
            }
            Expr::List(list) => {
                for element in &list.elements {
                    self.walk(element, depth + 1, nesting)?;
                }
                Ok(())
            }
            Expr::Map(map) => self.walk_entries(&map.entries, depth, nesting),
            Expr::Struct(strct) => self.walk_entries(&strct.entries, depth, nesting),
            Expr::Comprehension(comprehension) => {
                self.has_comprehension = true;
                if nesting + 1 > self.limits.max_comprehension_nesting {
                    return Err(ExprError::TooComplex(format!(
                        "more than {} nested comprehensions (all, exists, exists_one, map, filter)",
                        self.limits.max_comprehension_nesting
                    )));
                }
                self.walk(&comprehension.iter_range, depth + 1, nesting)?;
                self.walk(&comprehension.accu_init, depth + 1, nesting)?;
                let scope = self.bound.len();
                self.bound.push(comprehension.accu_var.clone());
                self.walk(&comprehension.result, depth + 1, nesting)?;
                self.bound.push(comprehension.iter_var.clone());
                if let Some(second) = &comprehension.iter_var2 {
                    self.bound.push(second.clone());
                }
                self.walk(&comprehension.loop_cond, depth + 1, nesting + 1)?;
                self.walk(&comprehension.loop_step, depth + 1, nesting + 1)?;
                self.bound.truncate(scope);
                Ok(())
            }
            Expr::Unspecified => Err(ExprError::Syntax("unsupported expression".into())),
        }
    }

    fn walk_entries(
        &mut self,
        entries: &[cel::common::ast::IdedEntryExpr],
        depth: usize,
        nesting: usize,
    ) -> Result<(), ExprError> {
        for entry in entries {
            match &entry.expr {
                EntryExpr::MapEntry(map_entry) => {
                    self.walk(&map_entry.key, depth + 1, nesting)?;
                    self.walk(&map_entry.value, depth + 1, nesting)?;
                }
                EntryExpr::StructField(field) => self.walk(&field.value, depth + 1, nesting)?,
            }
        }
        Ok(())
    }

    /// `base.a['b'][k]…`: records the reference rooted at `base`, walks computed keys.
    fn walk_chain(&mut self, expr: &cel::IdedExpr, depth: usize, nesting: usize) -> Result<(), ExprError> {
        let (base, links) = unwind(expr);
        // the chain's own links count as nodes and depth, like the nested AST they are
        let chain_depth = depth + links.len().saturating_sub(1);
        for offset in 1..links.len() {
            self.enter(depth + offset)?;
        }
        match &base.expr {
            Expr::Ident(name) => {
                self.enter(chain_depth + 1)?;
                let first = links.last().map(|link| match link {
                    Link::Static(segment) | Link::Test(segment) => Some(segment),
                    Link::Dynamic(_) => None,
                });
                self.root_reference(name, first)?;
            }
            _ => self.walk(base, chain_depth + 1, nesting)?,
        }
        for link in &links {
            if let Link::Dynamic(key) = link {
                self.walk(key, chain_depth + 1, nesting)?;
            }
        }
        Ok(())
    }

    /// A free identifier, with the segment right after it: `None` = used whole,
    /// `Some(None)` = a computed key, `Some(Some(segment))` = a literal one.
    fn root_reference(&mut self, name: &str, first: Option<Option<&PathSegment>>) -> Result<(), ExprError> {
        if self.is_bound(name) || TYPE_NAMES.contains(&name) {
            return Ok(());
        }
        if !ROOT_VARIABLES.contains(&name) {
            return Err(ExprError::UnknownVariable { name: name.to_owned() });
        }
        self.references.variables.insert(name.to_owned());
        let literal = match first {
            Some(Some(PathSegment::Field(field))) => Some(field.clone()),
            _ => None,
        };
        match (name, literal) {
            ("steps", Some(id)) => {
                self.references.steps.insert(id);
            }
            ("steps", None) => self.references.dynamic_steps = true,
            ("inputs", Some(input)) => {
                self.references.inputs.insert(input);
            }
            ("inputs", None) => self.references.dynamic_inputs = true,
            ("secrets", Some(secret)) => {
                self.references.secrets.insert(secret);
            }
            ("secrets", None) => return Err(ExprError::DynamicSecret),
            _ => {}
        }
        Ok(())
    }
}
