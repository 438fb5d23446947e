//! What executing one step attempt decided, before it becomes a storage transition.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::definition::ErrorClass;

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Finished with `output`; continue at `next` (None = the step's declared `next`).
    Completed { output: Value, next: Option<Vec<String>> },
    /// Not done yet: become ready again at `until`, keeping `memo` as the step's output meanwhile
    /// (timers survive restarts because the wake time is in the database).
    Sleep { until: DateTime<Utc>, memo: Value },
    /// A container (`parallel`, `foreach`) opened: start these step keys now, and wait at a join
    /// until `remaining` paths have ended. `memo` is kept on the container (e.g. foreach items).
    Expand { memo: Value, remaining: i32, start: Vec<(String, String)> },
    /// Parked for something outside the run (a decision, an event, a child run): the step becomes
    /// `waiting` with `memo` as its output, until a signal or `wake_at` (a timeout, a poll) makes
    /// it ready again; its next attempt reads the memo the signal left.
    Wait { memo: Value, wake_at: Option<DateTime<Utc>> },
    /// The attempt failed; `class` decides whether a retry is allowed.
    Failed { class: ErrorClass, error: Value },
}

impl Outcome {
    pub fn failed(class: ErrorClass, message: impl Into<String>) -> Self {
        Outcome::Failed { class, error: serde_json::json!({"class": class, "message": message.into()}) }
    }
}
