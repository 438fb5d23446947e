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
    /// `(prefix, alias prefix)`: routes added under `prefix` are also served under the alias.
    aliases: Vec<(String, String)>,
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Paths::new(),
            schemas: Vec::new(),
            requirements: Vec::new(),
            aliases: Vec::new(),
        }
    }

    /// Serves every route added afterwards whose path is `prefix` or under `prefix/` also under
    /// `alias` (same handler, same requirement; in OpenAPI with `_alias` operation ids).
    pub fn alias(&mut self, prefix: &str, alias: &str) {
        self.aliases.push((prefix.to_owned(), alias.to_owned()));
    }

    fn aliased(&self, path: &str) -> Vec<String> {
        self.aliases
            .iter()
            .filter_map(|(prefix, alias)| {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then(|| format!("{alias}{rest}"))
            })
            .collect()
    }

    pub fn add(&mut self, requirement: Requirement, (schemas, mut paths, method_router): UtoipaMethodRouter<S>) {
        let mut aliased = Vec::new();
        for (path, item) in &paths.paths {
            for alias in self.aliased(path) {
                let mut item = item.clone();
                for operation in [
                    &mut item.get,
                    &mut item.put,
                    &mut item.post,
                    &mut item.delete,
                    &mut item.patch,
                    &mut item.head,
                    &mut item.options,
                ]
                .into_iter()
                .flatten()
                {
                    operation.operation_id = operation.operation_id.take().map(|id| format!("{id}_alias"));
                }
                aliased.push((alias, item));
            }
        }
        paths.paths.extend(aliased);
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
