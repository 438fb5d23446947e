//! The only `IntoResponse` for platform errors: RFC 9457 `application/problem+json` with `type`,
//! `title`, `status`, `detail`, `code`, `request_id` and, for validation, `errors[]` with JSON pointers.

use auterity_auth::AuthError;
use auterity_store::StoreError;
use auterity_types::ErrorCode;
use auterity_types::error::FieldError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";
const TYPE_BASE: &str = "https://auterity.dev/problems/";

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    /// A finer reason than the code (e.g. `mfa_required`), used as the problem `type`.
    pub reason: Option<&'static str>,
    pub errors: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), reason: None, errors: Vec::new(), retry_after_secs: None }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [only] => format!("{}: {}", only.pointer, only.detail),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Self { errors, ..Self::new(ErrorCode::Validation, detail) }
    }

    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

tokio::task_local! {
    /// The current request's id, so problems carry it without threading it through every handler.
    pub static REQUEST_ID: String;
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = self.code.as_str(), detail = %self.detail, "request failed");
        }
        // Internal details stay in the log.
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR { "internal error" } else { self.detail.as_str() };
        let problem = Problem {
            kind: format!("{TYPE_BASE}{}", self.reason.unwrap_or(self.code.as_str())),
            title: self.code.title(),
            status: status.as_u16(),
            detail,
            code: self.reason.unwrap_or(self.code.as_str()),
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
            errors: &self.errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let code = error.code();
        let reason = error.reason();
        match error {
            AuthError::Validation(errors) => ApiError::validation(errors),
            AuthError::Throttled { retry_after } => ApiError {
                retry_after_secs: Some(retry_after.as_secs().max(1)),
                ..ApiError::new(code, error_detail(&AuthError::Throttled { retry_after })).with_reason(reason)
            },
            other => ApiError::new(code, other.to_string()).with_reason(reason),
        }
    }
}

fn error_detail(error: &AuthError) -> String {
    error.to_string()
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::new(error.code(), error.to_string())
    }
}
