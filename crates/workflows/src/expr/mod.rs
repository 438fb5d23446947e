//! The workflow expression language: CEL (cel-spec, via the `cel` crate) with the standard
//! library plus the `strings` and `math` extensions and our `xml` functions ([`xml`]), over the
//! variables `inputs`, `steps`, `env`, `secrets`, `run`, `item`, `index` and `event`.
//!
//! Safety (see `docs/workflow-format.md`, "Expressions"): CEL has no loops beyond the
//! comprehension macros over finite lists, and no recursion. On top of that an expression is
//! rejected at compile time past [`Limits`] (source length, AST size and depth, comprehension
//! nesting); evaluation runs on a sandbox thread under a deadline, and results are capped in
//! serialized size. `secrets` may only be read with a literal name, so [`References::secrets`]
//! lists every secret an expression can reveal.

mod analyze;
mod convert;
mod eval;
mod template;
pub mod xml;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use auterity_types::ErrorCode;

pub use analyze::References;
pub use eval::EvalContext;
pub use template::{Template, ValueTemplate};

/// The variables an expression may name.
pub const ROOT_VARIABLES: [&str; 8] = ["inputs", "steps", "env", "secrets", "run", "item", "index", "event"];

/// Bounds on what an expression may cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of source of one expression (one `${…}` in a template).
    pub max_source_bytes: usize,
    /// AST nodes after macro expansion (`map`, `filter`, … expand to ~6 nodes each).
    pub max_ast_nodes: usize,
    /// Nesting depth of the AST.
    pub max_ast_depth: usize,
    /// Comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) nested in one another:
    /// each level multiplies the work by the length of a list.
    pub max_comprehension_nesting: usize,
    /// Bytes of one result serialized as JSON.
    pub max_result_bytes: usize,
    /// Wall-clock budget of one evaluation (one template rendering, all its expressions).
    pub eval_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_source_bytes: 4096,
            max_ast_nodes: 1000,
            max_ast_depth: 48,
            max_comprehension_nesting: 2,
            max_result_bytes: 1024 * 1024,
            eval_timeout: Duration::from_millis(500),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("expression is empty")]
    Empty,
    #[error("expression is {len} bytes long, more than the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("expression is too complex: {0}")]
    TooComplex(String),
    #[error("unknown variable '{name}': expressions can use {}", ROOT_VARIABLES.join(", "))]
    UnknownVariable { name: String },
    #[error("secrets must be read with a literal name, like secrets.api_key or secrets['api-key']")]
    DynamicSecret,
    #[error("template: {message} at byte {offset}")]
    Template { offset: usize, message: String },
    #[error("secret '{0}' is not defined")]
    MissingSecret(String),
    #[error("evaluation failed: {0}")]
    Evaluation(String),
    #[error("result is not representable as JSON: {0}")]
    NotJson(String),
    #[error("result is larger than {max} bytes")]
    ResultTooLarge { max: usize },
    #[error("evaluation took longer than {}ms", .0.as_millis())]
    Timeout(Duration),
    #[error("expected {expected}, got {got}")]
    WrongType { expected: &'static str, got: &'static str },
    #[error("{pointer}: {error}")]
    At { pointer: String, error: Box<ExprError> },
    #[error("expression evaluator failed: {0}")]
    Internal(String),
}

impl ExprError {
    /// Compile-time problems are validation errors of the definition; the rest happen while a
    /// run evaluates and fail the step (error class `expression`).
    pub fn code(&self) -> ErrorCode {
        match self {
            ExprError::Empty
            | ExprError::TooLong { .. }
            | ExprError::Syntax(_)
            | ExprError::TooComplex(_)
            | ExprError::UnknownVariable { .. }
            | ExprError::DynamicSecret
            | ExprError::Template { .. } => ErrorCode::Validation,
            ExprError::Timeout(_) => ErrorCode::Timeout,
            ExprError::Internal(_) => ErrorCode::Internal,
            ExprError::At { error, .. } => error.code(),
            _ => ErrorCode::BadRequest,
        }
    }

    /// Prefixes the error with where it happened inside a value template.
    pub(crate) fn at(self, pointer: &str) -> ExprError {
        if pointer.is_empty() {
            return self;
        }
        ExprError::At { pointer: pointer.to_owned(), error: Box::new(self) }
    }
}

/// The shared CEL environment: standard library, `strings` and `math` extensions, and our `xml`
/// functions. The `lists` extension is left out: `lists.range(n)` builds arbitrarily large lists.
pub(crate) static CEL_ENV: LazyLock<Arc<cel::Env>> = LazyLock::new(|| {
    let mut env = cel::Env::stdlib();
    // both only fail on duplicate declarations, impossible on a fresh stdlib
    let _ = env.add_extension(cel::extensions::strings);
    let _ = env.add_extension(cel::extensions::math);
    let _ = env.add_extension(xml::extension);
    Arc::new(env)
});

/// A compiled expression: parse once, evaluate many times.
#[derive(Clone, Debug)]
pub struct Expression {
    source: Arc<str>,
    program: Arc<cel::Program>,
    references: Arc<References>,
    /// A plain path (`steps.fetch.output.body`) is read straight from the context.
    fast_path: Option<Arc<[analyze::PathSegment]>>,
    /// Uses `all`/`exists`/`exists_one`/`map`/`filter`: evaluated under the deadline.
    has_comprehension: bool,
    limits: Arc<Limits>,
}

impl Expression {
    pub fn compile(source: &str) -> Result<Self, ExprError> {
        Self::compile_with_limits(source, &Limits::default())
    }

    pub fn compile_with_limits(source: &str, limits: &Limits) -> Result<Self, ExprError> {
        if source.len() > limits.max_source_bytes {
            return Err(ExprError::TooLong { len: source.len(), max: limits.max_source_bytes });
        }
        if source.trim().is_empty() {
            return Err(ExprError::Empty);
        }
        let program = CEL_ENV.compile(source).map_err(|errors| ExprError::Syntax(syntax_message(&errors)))?;
        let analysis = analyze::analyze(program.expression(), limits)?;
        Ok(Self {
            source: source.into(),
            program: Arc::new(program),
            references: Arc::new(analysis.references),
            fast_path: analysis.fast_path.map(Arc::from),
            has_comprehension: analysis.has_comprehension,
            limits: Arc::new(limits.clone()),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// What the expression reads: variables, step ids, input names, secret names.
    pub fn references(&self) -> &References {
        &self.references
    }

    pub fn evaluate(&self, context: &EvalContext) -> Result<serde_json::Value, ExprError> {
        let mut values = eval::evaluate_all(&[self], context, &self.limits).map_err(|failed| failed.error)?;
        values.pop().ok_or_else(|| ExprError::Internal("no result".into()))
    }

    /// Evaluates a condition: the result must be a bool.
    pub fn evaluate_bool(&self, context: &EvalContext) -> Result<bool, ExprError> {
        match self.evaluate(context)? {
            serde_json::Value::Bool(result) => Ok(result),
            other => Err(ExprError::WrongType { expected: "bool", got: convert::json_type_name(&other) }),
        }
    }
}

/// One line per parse error, positions as `line:column`, without the source snippet.
fn syntax_message(errors: &cel::ParseErrors) -> String {
    let messages: Vec<String> = errors
        .errors
        .iter()
        .map(|error| {
            let message = error.msg.strip_prefix("Syntax error: ").unwrap_or(&error.msg);
            format!("{message} (line {}, column {})", error.pos.0.max(1), error.pos.1.max(1))
        })
        .collect();
    if messages.is_empty() { "invalid expression".to_owned() } else { messages.join("; ") }
}

#[cfg(test)]
mod tests;
