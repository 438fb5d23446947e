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

use auterity_testkit::{TestServer, user_password};
use serde_json::{Value, json};

/// Asserts a problem+json error with the given status.
pub fn assert_problem(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "unexpected status, body: {body}");
    assert_eq!(body["status"], expected, "problem body lacks status: {body}");
    assert!(body["type"].as_str().is_some_and(|t| t.starts_with("https://")), "problem type missing: {body}");
    assert!(body["detail"].is_string(), "problem detail missing: {body}");
}

/// Creates a second organization (`bravo`) with an administrator holding `autmatrix` admin, as
/// the platform administrator `root`; answers that administrator's access token.
pub async fn second_org_admin(server: &TestServer, root: &str) -> String {
    let (status, org_b) =
        server.call("POST", "/api/auth/orgs", Some(root), Some(json!({"name": "Bravo Motors", "slug": "bravo"}))).await;
    assert_eq!(status, 201, "{org_b}");
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/users",
            Some(root),
            Some(json!({"email": "b@example.test", "username": "borgadmin",
            "password": user_password(), "roles": ["admin"], "systems": [{"system": "autmatrix", "level": "admin"}],
            "org_id": org_b["id"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    server.login("b@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned()
}
