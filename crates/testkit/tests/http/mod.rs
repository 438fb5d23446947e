//! Scenarios, one module per area.

pub mod admin;
pub mod api_keys;
pub mod bad_input;
pub mod egress;
pub mod engine_bench;
pub mod events;
pub mod matrix;
pub mod mfa;
pub mod probes;
pub mod replicas;
pub mod restart;
pub mod run_control;
pub mod secrets;
pub mod sessions;
pub mod steps;
pub mod templates;
pub mod tenancy;
pub mod throttle;
pub mod triggers;
pub mod variables;
pub mod workflows;

use serde_json::Value;

/// Asserts a problem+json error with the given status.
pub fn assert_problem(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "unexpected status, body: {body}");
    assert_eq!(body["status"], expected, "problem body lacks status: {body}");
    assert!(body["type"].as_str().is_some_and(|t| t.starts_with("https://")), "problem type missing: {body}");
    assert!(body["detail"].is_string(), "problem detail missing: {body}");
}
