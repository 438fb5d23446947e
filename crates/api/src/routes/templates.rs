//! Handlers of `/api/workflows/templates*`: the shipped template library (read) and creating a
//! workflow from a template (write).

use auterity_workflows::templates::{self, Template};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::workflows::WorkflowView;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::guard::{Authorized, Autmatrix, Read, Write};
use crate::state::AppState;

/// A template in the list: everything but the definition.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateSummary {
    pub id: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub inputs_example: Value,
}

impl From<&Template> for TemplateSummary {
    fn from(t: &Template) -> Self {
        Self {
            id: t.id.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            category: t.category.clone(),
            tags: t.tags.clone(),
            inputs_example: t.inputs_example.clone(),
        }
    }
}

/// A template with its workflow definition.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    #[serde(flatten)]
    pub summary: TemplateSummary,
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// A page of templates; `next_cursor` is the id to pass as `after` for the next page.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplatePage {
    pub items: Vec<TemplateSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TemplateListParams {
    /// 1–500, default 50.
    pub limit: Option<u32>,
    /// Continue after this template id (the previous page's `next_cursor`).
    pub after: Option<String>,
    /// Only templates of this category (`dealership`, `clinical`).
    pub category: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstantiateRequest {
    /// Name of the new workflow; default: the template's id.
    pub name: Option<String>,
}

#[utoipa::path(get, path = "/api/workflows/templates", tag = "templates", params(TemplateListParams),
    responses((status = 200, body = TemplatePage)))]
pub async fn list_templates_handler(
    _caller: Authorized<Autmatrix, Read>,
    ApiQuery(params): ApiQuery<TemplateListParams>,
) -> Json<TemplatePage> {
    let limit = params.limit.unwrap_or(50).clamp(1, auterity_types::records::PageRequest::MAX_LIMIT) as usize;
    let items: Vec<TemplateSummary> = templates::page(params.category.as_deref(), params.after.as_deref(), limit)
        .into_iter()
        .map(TemplateSummary::from)
        .collect();
    let next_cursor = if items.len() >= limit { items.last().map(|t| t.id.clone()) } else { None };
    Json(TemplatePage { items, next_cursor })
}

#[utoipa::path(get, path = "/api/workflows/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = TemplateView), (status = 404, description = "No such template")))]
pub async fn get_template_handler(
    _caller: Authorized<Autmatrix, Read>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TemplateView>, ApiError> {
    let template =
        templates::get(&id).ok_or(auterity_workflows::engine::service::WorkflowError::NotFound("template"))?;
    Ok(Json(TemplateView { summary: template.into(), definition: template.definition.clone() }))
}

#[utoipa::path(post, path = "/api/workflows/templates/{id}/instantiate", tag = "templates",
    params(("id" = String, Path, description = "Template id")), request_body(content = InstantiateRequest, description = "Optional; `{}` or no body keeps the template's name"),
    responses((status = 201, body = WorkflowView), (status = 404, description = "No such template"),
        (status = 409, description = "A workflow of that name exists"), (status = 422, description = "Invalid name")))]
pub async fn instantiate_template_handler(
    caller: Authorized<Autmatrix, Write>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Option<ApiJson<InstantiateRequest>>,
) -> Result<(StatusCode, Json<WorkflowView>), ApiError> {
    let p = &caller.principal;
    let request = body.map(|ApiJson(request)| request).unwrap_or_default();
    let workflow = state.workflows.create_from_template(p.org_id, p.user_id, &id, request.name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(workflow.into())))
}
