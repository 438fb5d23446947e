//! Evaluation: the context an expression sees, and where it runs. Plain paths are read straight
//! from the context; loop-free expressions run on the caller's thread; expressions with
//! comprehensions run on a pooled evaluator thread, so a slow one costs the caller at most
//! `eval_timeout`. An interpreter panic becomes an error either way, not a crash.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, mpsc};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::analyze::{PathSegment, References};
use super::convert::{cel_to_json, json_fits, json_to_cel};
use super::{CEL_ENV, ExprError, Expression, Limits};

/// Stack of the sandbox thread: the interpreter recurses once per AST level.
const SANDBOX_STACK_BYTES: usize = 8 * 1024 * 1024;

/// The variables an expression is evaluated against.
#[derive(Clone, Debug, Default)]
pub struct EvalContext {
    /// The run's inputs (an object, defaults applied).
    pub inputs: Value,
    /// Step id → `{output, status, error}` of the steps that have finished or been skipped.
    pub steps: serde_json::Map<String, Value>,
    /// Non-secret configuration variables of the workflow's organization.
    pub env: serde_json::Map<String, Value>,
    /// Secret name → value; an expression only receives the ones it names.
    pub secrets: BTreeMap<String, SecretString>,
    /// `{id, workflow, version, started_at}` of the run.
    pub run: Value,
    /// Inside a `foreach` body: the current element and its position.
    pub item: Option<Value>,
    pub index: Option<u64>,
    /// In a `wait_event` filter: the candidate event.
    pub event: Option<Value>,
}

impl EvalContext {
    pub fn new(inputs: Value) -> Self {
        Self { inputs, ..Self::default() }
    }

    /// Records a finished step as `steps.<id>`: `{output, status, error}`.
    pub fn set_step(&mut self, id: &str, status: &str, output: Value, error: Option<Value>) {
        let state = serde_json::json!({"output": output, "status": status, "error": error});
        self.steps.insert(id.to_owned(), state);
    }

    /// The JSON value of a root variable, restricted to what `references` reads.
    fn root_value(&self, name: &str, references: &References) -> Result<Option<Value>, ExprError> {
        Ok(match name {
            "inputs" => Some(self.inputs.clone()),
            "steps" if references.dynamic_steps => Some(Value::Object(self.steps.clone())),
            "steps" => Some(Value::Object(
                references
                    .steps
                    .iter()
                    .filter_map(|id| self.steps.get(id).map(|state| (id.clone(), state.clone())))
                    .collect(),
            )),
            "env" => Some(Value::Object(self.env.clone())),
            "secrets" => {
                let mut exposed = serde_json::Map::new();
                for name in &references.secrets {
                    let secret = self.secrets.get(name).ok_or_else(|| ExprError::MissingSecret(name.clone()))?;
                    exposed.insert(name.clone(), Value::String(secret.expose_secret().to_owned()));
                }
                Some(Value::Object(exposed))
            }
            "run" => Some(self.run.clone()),
            "item" => self.item.clone(),
            "index" => self.index.map(Value::from),
            "event" => self.event.clone(),
            _ => None,
        })
    }

    /// Reads a plain path without the interpreter, with CEL's error semantics.
    fn read_path(&self, path: &[PathSegment]) -> Result<Value, ExprError> {
        let Some((PathSegment::Field(root), rest)) = path.split_first() else {
            return Err(ExprError::Internal("empty path".into()));
        };
        let (mut current, rest): (Value, &[PathSegment]) = match (root.as_str(), rest.split_first()) {
            ("steps", Some((PathSegment::Field(id), after))) => {
                (self.steps.get(id).ok_or_else(|| no_such_key(id))?.clone(), after)
            }
            ("env", Some((PathSegment::Field(key), after))) => {
                (self.env.get(key).ok_or_else(|| no_such_key(key))?.clone(), after)
            }
            ("secrets", Some((PathSegment::Field(name), after))) => {
                let secret = self.secrets.get(name).ok_or_else(|| ExprError::MissingSecret(name.clone()))?;
                (Value::String(secret.expose_secret().to_owned()), after)
            }
            (name, _) => {
                let references = References { dynamic_steps: true, ..References::default() };
                let value = self
                    .root_value(name, &references)?
                    .ok_or_else(|| ExprError::Evaluation(format!("Undeclared reference to '{name}'")))?;
                (value, rest)
            }
        };
        for segment in rest {
            current = match (segment, current) {
                (PathSegment::Field(field), Value::Object(mut map)) => {
                    map.remove(field).ok_or_else(|| no_such_key(field))?
                }
                (PathSegment::Index(index), Value::Array(mut items)) => {
                    let position = usize::try_from(*index).ok().filter(|position| *position < items.len());
                    let position =
                        position.ok_or_else(|| ExprError::Evaluation(format!("Index out of bounds: {index}")))?;
                    items.swap_remove(position)
                }
                (PathSegment::Index(index), Value::Object(_)) => return Err(no_such_key(&index.to_string())),
                (segment, other) => {
                    let what = match segment {
                        PathSegment::Field(field) => format!("field '{field}'"),
                        PathSegment::Index(index) => format!("index {index}"),
                    };
                    let got = super::convert::json_type_name(&other);
                    return Err(ExprError::Evaluation(format!("cannot read {what} of a {got}")));
                }
            };
        }
        Ok(current)
    }
}

fn no_such_key(key: &str) -> ExprError {
    ExprError::Evaluation(format!("No such key: {key}"))
}

/// An evaluation failure and the position of the expression that failed.
pub(crate) struct Failed {
    pub position: usize,
    pub error: ExprError,
}

/// Evaluates several expressions against one context, all under one deadline.
pub(crate) fn evaluate_all(
    expressions: &[&Expression],
    context: &EvalContext,
    limits: &Limits,
) -> Result<Vec<Value>, Failed> {
    let mut results: Vec<Option<Value>> = vec![None; expressions.len()];
    let mut sandboxed = Vec::new();
    let mut references = References::default();
    let mut loops = false;
    for (position, expression) in expressions.iter().enumerate() {
        match &expression.fast_path {
            Some(path) => {
                let value = context.read_path(path).map_err(|error| Failed { position, error })?;
                if !json_fits(&value, limits.max_result_bytes) {
                    return Err(Failed { position, error: ExprError::ResultTooLarge { max: limits.max_result_bytes } });
                }
                results[position] = Some(value);
            }
            None => {
                loops |= expression.has_comprehension;
                references.merge(&expression.references);
                sandboxed.push((position, Arc::clone(&expression.program)));
            }
        }
    }
    if !sandboxed.is_empty() {
        let first = sandboxed[0].0;
        let mut variables = Vec::new();
        for name in &references.variables {
            let value = context.root_value(name, &references).map_err(|error| Failed { position: first, error })?;
            if let Some(value) = value {
                variables.push((name.clone(), value));
            }
        }
        let programs: Vec<Arc<cel::Program>> = sandboxed.iter().map(|(_, program)| Arc::clone(program)).collect();
        let outcome =
            if loops { run_sandboxed(programs, variables, limits) } else { run_inline(&programs, &variables, limits) };
        let values = outcome.map_err(|(index, error)| Failed {
            position: sandboxed.get(index).map_or(first, |(position, _)| *position),
            error,
        })?;
        for ((position, _), value) in sandboxed.iter().zip(values) {
            results[*position] = Some(value);
        }
    }
    let missing = |position| Failed { position, error: ExprError::Internal("missing result".into()) };
    results.into_iter().enumerate().map(|(position, value)| value.ok_or_else(|| missing(position))).collect()
}

/// Work handed to a sandbox thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// An evaluator thread waiting for jobs. Threads are reused (spawning one costs ~100µs, more
/// than most evaluations); one whose job overran its deadline or panicked is never reused.
struct Worker {
    jobs: mpsc::Sender<Job>,
}

static IDLE_WORKERS: Mutex<Vec<Worker>> = Mutex::new(Vec::new());
const MAX_IDLE_WORKERS: usize = 8;

fn spawn_worker() -> Result<Worker, ExprError> {
    let (jobs, receiver) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("cel-eval".into())
        .stack_size(SANDBOX_STACK_BYTES)
        .spawn(move || {
            // ends when the Worker (the sender) is dropped
            while let Ok(job) = receiver.recv() {
                job();
            }
        })
        .map_err(|error| ExprError::Internal(format!("cannot start evaluator thread: {error}")))?;
    Ok(Worker { jobs })
}

/// Runs `job` on an idle worker, or a new one if none is idle or the idle one is gone.
fn dispatch(job: Job) -> Result<Worker, ExprError> {
    let idle = IDLE_WORKERS.lock().ok().and_then(|mut idle| idle.pop());
    let job = match idle {
        Some(worker) => match worker.jobs.send(job) {
            Ok(()) => return Ok(worker),
            Err(mpsc::SendError(job)) => job,
        },
        None => job,
    };
    let worker = spawn_worker()?;
    worker.jobs.send(job).map_err(|_| ExprError::Internal("evaluator thread exited".into()))?;
    Ok(worker)
}

fn release(worker: Worker) {
    if let Ok(mut idle) = IDLE_WORKERS.lock()
        && idle.len() < MAX_IDLE_WORKERS
    {
        idle.push(worker);
    }
}

/// Evaluates compiled programs against JSON variables, in order.
fn evaluate_programs(
    programs: &[Arc<cel::Program>],
    variables: &[(String, Value)],
    max_result_bytes: usize,
) -> Result<Vec<Value>, (usize, ExprError)> {
    let mut context = cel::Context::with_env(Arc::clone(&CEL_ENV));
    for (name, value) in variables {
        context.add_variable_from_value(name.as_str(), json_to_cel(value));
    }
    let evaluate = |program: &cel::Program| {
        let value = program.execute(&context).map_err(|error| ExprError::Evaluation(error.to_string()))?;
        let json = cel_to_json(&value)?;
        if json_fits(&json, max_result_bytes) {
            Ok(json)
        } else {
            Err(ExprError::ResultTooLarge { max: max_result_bytes })
        }
    };
    programs.iter().enumerate().map(|(index, program)| evaluate(program).map_err(|error| (index, error))).collect()
}

/// Without comprehensions an expression does no loop: its work is linear in its size and its
/// inputs', so it runs on the caller's thread (guarded against interpreter panics).
fn run_inline(
    programs: &[Arc<cel::Program>],
    variables: &[(String, Value)],
    limits: &Limits,
) -> Result<Vec<Value>, (usize, ExprError)> {
    let run = || evaluate_programs(programs, variables, limits.max_result_bytes);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .unwrap_or_else(|_| Err((0, ExprError::Internal("evaluator panicked".into()))))
}

fn run_sandboxed(
    programs: Vec<Arc<cel::Program>>,
    variables: Vec<(String, Value)>,
    limits: &Limits,
) -> Result<Vec<Value>, (usize, ExprError)> {
    let (sender, receiver) = mpsc::sync_channel(1);
    let max_result_bytes = limits.max_result_bytes;
    let job: Job = Box::new(move || {
        let result = evaluate_programs(&programs, &variables, max_result_bytes);
        // the receiver is gone when the caller timed out: nothing left to do
        let _ = sender.send(result);
    });
    let worker = dispatch(job).map_err(|error| (0, error))?;
    match receiver.recv_timeout(limits.eval_timeout) {
        Ok(result) => {
            release(worker);
            result
        }
        // the overrunning worker is dropped: its thread exits once its job ends
        Err(mpsc::RecvTimeoutError::Timeout) => Err((0, ExprError::Timeout(limits.eval_timeout))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err((0, ExprError::Internal("evaluator panicked".into()))),
    }
}
