//! The HTTP surface: route tables, thin handlers, guard extractors, middleware, OpenAPI assembly,
//! and the runtime that wires the parts together for `auterity serve` and the test kit.

pub mod error;
pub mod extract;
pub mod guard;
mod layers;
pub mod query_token;
pub mod routes;
pub mod runtime;
pub mod state;
mod table;

pub use runtime::{Platform, PlatformError, serve};
pub use state::AppState;

/// The complete application router with every layer applied.
pub fn build_router(state: AppState) -> axum::Router {
    let router = routes::route_table().into_router();
    layers::apply(router, &state.config.server).with_state(state)
}
