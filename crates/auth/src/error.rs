//! Auth errors, each mapped to one catalogue code.

use auterity_store::StoreError;
use auterity_types::ErrorCode;
use auterity_types::error::FieldError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing or malformed credentials")]
    MissingCredentials,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("token is invalid or expired")]
    InvalidToken,
    #[error("token has been revoked")]
    Revoked,
    #[error("a TOTP code or recovery code is required")]
    MfaRequired,
    #[error("too many failed attempts; retry after {} s", .retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("request is invalid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::MissingCredentials
            | AuthError::InvalidCredentials
            | AuthError::InvalidToken
            | AuthError::Revoked
            | AuthError::MfaRequired => ErrorCode::Unauthenticated,
            AuthError::Throttled { .. } => ErrorCode::TooManyRequests,
            AuthError::Forbidden(_) => ErrorCode::Forbidden,
            AuthError::NotFound(_) => ErrorCode::NotFound,
            AuthError::Conflict(_) => ErrorCode::AlreadyExists,
            AuthError::Validation(_) => ErrorCode::Validation,
            AuthError::BadRequest(_) => ErrorCode::BadRequest,
            AuthError::Store(e) => e.code(),
            AuthError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A stable machine-readable reason for clients (e.g. `mfa_required`).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing_credentials",
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::InvalidToken => "invalid_token",
            AuthError::Revoked => "token_revoked",
            AuthError::MfaRequired => "mfa_required",
            AuthError::Throttled { .. } => "throttled",
            _ => self.code().as_str(),
        }
    }

    pub fn field(pointer: &str, detail: impl Into<String>) -> Self {
        AuthError::Validation(vec![FieldError::new(pointer, detail)])
    }
}

impl From<crate::revocation::RevocationError> for AuthError {
    fn from(value: crate::revocation::RevocationError) -> Self {
        AuthError::Internal(value.to_string())
    }
}

impl From<crate::throttle::ThrottleError> for AuthError {
    fn from(value: crate::throttle::ThrottleError) -> Self {
        AuthError::Internal(value.to_string())
    }
}

impl From<crate::crypto::CryptoError> for AuthError {
    fn from(value: crate::crypto::CryptoError) -> Self {
        AuthError::Internal(value.to_string())
    }
}
