//! Store errors, each mapped to one catalogue code.

use auterity_types::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conflict: {0}")]
    Conflict(String),
    /// A write refused because what it refers to is not in the caller's scope (another
    /// organization's user or team, a missing organization). Reads answer `None`/`false` instead.
    #[error("not found: {0}")]
    NotFound(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
}

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Conflict(_) => ErrorCode::AlreadyExists,
            StoreError::NotFound(_) => ErrorCode::NotFound,
            StoreError::Unavailable(_) => ErrorCode::Unavailable,
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                ErrorCode::Unavailable
            }
            StoreError::InvalidUrl(_) => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }
}
