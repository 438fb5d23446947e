//! Unified auth: passwords (argon2id + policy), access tokens (JWT), refresh-token rotation,
//! revocation, API keys, TOTP MFA, login throttling, users, organizations and the audit log.

mod api_keys;
pub mod bootstrap;
pub mod crypto;
pub mod dto;
mod error;
mod login;
mod mfa;
mod orgs;
pub mod password;
pub mod principal;
pub mod revocation;
pub mod secrets;
mod service;
pub mod throttle;
pub mod tokens;
pub mod totp;
mod users;

pub use error::AuthError;
pub use principal::{Credential, Principal};
pub use service::{AuthService, AuthSettings, ClientContext, Throttles};
