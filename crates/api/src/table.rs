//! `RouteTable`: builds the axum router and the OpenAPI paths from the same registrations, and
//! records each route's access requirement.

use axum::Router;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::Paths;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::guard::Requirement;

pub struct RouteTable<S> {
    router: Router<S>,
    paths: Paths,
    schemas: Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
    requirements: Vec<(String, String, Requirement)>,
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub fn new() -> Self {
        Self { router: Router::new(), paths: Paths::new(), schemas: Vec::new(), requirements: Vec::new() }
    }

    pub fn add(&mut self, requirement: Requirement, (schemas, paths, method_router): UtoipaMethodRouter<S>) {
        for (path, item) in &paths.paths {
            let methods = serde_json::to_value(item).ok();
            for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
                if methods.as_ref().and_then(|m| m.get(method)).is_some() {
                    self.requirements.push((path.clone(), method.to_owned(), requirement));
                }
            }
            let router = std::mem::take(&mut self.router);
            self.router = router.route(path, method_router.clone());
        }
        self.schemas.extend(schemas);
        self.paths.merge(paths);
    }

    pub fn requirements(&self) -> &[(String, String, Requirement)] {
        &self.requirements
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }

    pub fn openapi(&self, mut base: OpenApi) -> OpenApi {
        base.paths = self.paths.clone();
        let components = base.components.get_or_insert_with(Default::default);
        for (name, schema) in &self.schemas {
            components.schemas.insert(name.clone(), schema.clone());
        }
        base
    }
}

impl<S: Clone + Send + Sync + 'static> Default for RouteTable<S> {
    fn default() -> Self {
        Self::new()
    }
}
