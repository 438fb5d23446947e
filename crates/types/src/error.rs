//! The closed catalogue of error codes. Every crate's error maps to one code; the code decides the
//! HTTP status in exactly one place (`ErrorCode::http_status`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    AlreadyExists,
    BadRequest,
    Forbidden,
    Internal,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Timeout,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
    Validation,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::AlreadyExists => 409,
            ErrorCode::BadRequest => 400,
            ErrorCode::Forbidden => 403,
            ErrorCode::Internal => 500,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Timeout => 408,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Unavailable => 503,
            ErrorCode::Validation => 422,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Internal => "internal",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Timeout => "timeout",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Validation => "validation",
        }
    }

    /// Short human title for problem documents.
    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::AlreadyExists => "Resource already exists",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::Internal => "Internal server error",
            ErrorCode::NotFound => "Not found",
            ErrorCode::MethodNotAllowed => "Method not allowed",
            ErrorCode::PayloadTooLarge => "Payload too large",
            ErrorCode::UnsupportedMediaType => "Unsupported media type",
            ErrorCode::Timeout => "Request timeout",
            ErrorCode::TooManyRequests => "Too many requests",
            ErrorCode::Unauthenticated => "Unauthenticated",
            ErrorCode::Unavailable => "Service unavailable",
            ErrorCode::Validation => "Validation failed",
        }
    }
}

/// One field-level problem, located by a JSON pointer (RFC 6901) into the request body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), detail: detail.into() }
    }
}
