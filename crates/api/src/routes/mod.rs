//! The route table: every path, its handler and — read off the handler's guard — its access
//! requirement. This file holds only the table; handlers live beside it.

pub mod ai;
pub mod auth;
pub mod docs;
pub mod health;
pub mod live;
pub mod runs;
pub mod secrets;
pub mod templates;
pub mod triggers;
pub mod variables;
pub mod workflow_signals;
pub mod workflows;

use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

use crate::guard::Requirement;
use crate::state::AppState;
use crate::table::RouteTable;

/// Registers a handler with its declared requirement (from the guard in its signature).
macro_rules! guarded {
    ($table:ident, $handler:path) => {
        $table.add($crate::guard::requirement_of(&$handler), utoipa_axum::routes!($handler))
    };
}

pub fn route_table() -> RouteTable<AppState> {
    let mut t = RouteTable::new();
    // The seed's coordinator paths (`/api/v1/collaborative/workflows…`) serve AutoMatrix too.
    t.alias("/api/workflows", "/api/v1/collaborative/workflows");
    guarded!(t, health::health_handler);
    guarded!(t, health::live_handler);
    guarded!(t, health::ready_handler);
    guarded!(t, health::metrics_handler);
    guarded!(t, docs::openapi_handler);
    guarded!(t, docs::docs_viewer_handler);

    guarded!(t, auth::login_handler);
    guarded!(t, auth::refresh_handler);
    guarded!(t, auth::logout_handler);
    guarded!(t, auth::me_handler);
    guarded!(t, auth::register_handler);
    guarded!(t, auth::change_password_handler);
    guarded!(t, auth::totp_enroll_handler);
    guarded!(t, auth::totp_verify_handler);
    guarded!(t, auth::totp_disable_handler);
    guarded!(t, auth::recovery_codes_handler);
    guarded!(t, auth::create_api_key_handler);
    guarded!(t, auth::list_api_keys_handler);
    guarded!(t, auth::delete_api_key_handler);
    guarded!(t, auth::list_users_handler);
    guarded!(t, auth::create_user_handler);
    guarded!(t, auth::get_user_handler);
    guarded!(t, auth::update_user_handler);
    guarded!(t, auth::grant_access_handler);
    guarded!(t, auth::revoke_access_handler);
    guarded!(t, auth::audit_handler);
    guarded!(t, auth::list_orgs_handler);
    guarded!(t, auth::create_org_handler);
    guarded!(t, auth::get_org_handler);
    guarded!(t, auth::list_teams_handler);
    guarded!(t, auth::create_team_handler);
    guarded!(t, auth::list_team_members_handler);
    guarded!(t, auth::add_team_member_handler);
    guarded!(t, auth::remove_team_member_handler);

    guarded!(t, ai::list_providers_handler);
    guarded!(t, ai::create_provider_handler);
    guarded!(t, ai::delete_provider_handler);

    guarded!(t, workflows::schema_handler);
    guarded!(t, workflows::validate_handler);
    guarded!(t, templates::list_templates_handler);
    guarded!(t, templates::get_template_handler);
    guarded!(t, templates::instantiate_template_handler);
    guarded!(t, workflows::create_workflow_handler);
    guarded!(t, workflows::list_workflows_handler);
    guarded!(t, workflows::list_runs_handler);
    guarded!(t, workflows::get_run_handler);
    guarded!(t, workflows::cancel_run_handler);
    guarded!(t, workflows::get_workflow_handler);
    guarded!(t, workflows::update_workflow_handler);
    guarded!(t, workflows::delete_workflow_handler);
    guarded!(t, workflows::versions_handler);
    guarded!(t, workflows::start_run_handler);
    guarded!(t, runs::pause_run_handler);
    guarded!(t, runs::resume_run_handler);
    guarded!(t, runs::retry_run_handler);
    guarded!(t, runs::rerun_handler);
    guarded!(t, runs::list_step_attempts_handler);
    guarded!(t, live::run_events_handler);
    guarded!(t, live::run_socket_handler);
    guarded!(t, workflow_signals::approve_step_handler);
    guarded!(t, workflow_signals::reject_step_handler);
    guarded!(t, workflow_signals::send_run_event_handler);

    guarded!(t, secrets::list_secrets_handler);
    guarded!(t, secrets::create_secret_handler);
    guarded!(t, secrets::get_secret_handler);
    guarded!(t, secrets::update_secret_handler);
    guarded!(t, secrets::delete_secret_handler);
    guarded!(t, variables::list_variables_handler);
    guarded!(t, variables::get_variable_handler);
    guarded!(t, variables::put_variable_handler);
    guarded!(t, variables::delete_variable_handler);
    guarded!(t, secrets::get_egress_handler);
    guarded!(t, secrets::update_egress_handler);
    guarded!(t, triggers::list_triggers_handler);
    guarded!(t, triggers::rotate_secret_handler);
    guarded!(t, triggers::webhook_handler);
    t
}

/// Every route with its requirement, for the authorization matrix test and `x-required-access`.
pub fn route_requirements() -> Vec<(String, String, Requirement)> {
    route_table().requirements().to_vec()
}

fn base_document() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Auterity")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Unified AI platform for workflow automation: AutoMatrix, RelayCore, NeuroWeaver."))
                .build(),
        )
        .build()
}

/// The OpenAPI 3.1 document, generated from the route table once per process.
pub fn openapi_document() -> serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let table = route_table();
        let mut doc = table.openapi(base_document());
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An access token from /api/auth/login, or an API key"))
                    .build(),
            ),
        );
        let mut json = serde_json::to_value(&doc).unwrap_or_default();
        if let Some(paths) = json.get_mut("paths").and_then(|p| p.as_object_mut()) {
            for (path, method, requirement) in table.requirements() {
                if let Some(op) = paths.get_mut(path).and_then(|item| item.get_mut(method.as_str())) {
                    op["x-required-access"] = requirement.describe().into();
                    if *requirement != Requirement::Public {
                        op["security"] = serde_json::json!([{"bearer": []}]);
                    }
                }
            }
        }
        json
    })
    .clone()
}
