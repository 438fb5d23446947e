//! AutoMatrix, the workflow engine. The definition layer — the JSON format
//! (`auterity.workflow/v1`, [`definition`]), its published JSON Schema ([`schema`]), semantic
//! validation ([`validate`]) and the CEL expression language ([`expr`]) — does no I/O; the
//! [`templates`] library ships ready-made definitions.

pub mod definition;
pub mod duration;
pub mod egress;
pub mod expr;
pub mod outbound;
pub mod schema;
pub mod secrets;
pub mod templates;
pub mod validate;
pub mod variables;

pub use definition::{FORMAT_V1, Step, StepKind, WorkflowDefinition};
pub use duration::WorkflowDuration;
pub use schema::workflow_schema;
pub use validate::{validate, validate_inputs};
pub mod engine;
pub mod triggers;
