//! `QueryTokenAuthorized`: the guard of the live-update routes (`/ws/runs/{id}` and the run's SSE
//! feed) only. Browsers cannot set headers on `WebSocket` or `EventSource`, so these routes also
//! take the credential as `?access_token=…`; every other route reads only the `Authorization`
//! header. The header wins when both are present. (The request log records the path, never the
//! query string.)

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::marker::PhantomData;

use crate::error::ApiError;
use crate::guard::{Guard, LevelMarker, Requirement, SystemMarker, check_credential};
use crate::state::AppState;
use auterity_auth::Principal;
use auterity_types::ErrorCode;

/// Like [`crate::guard::Authorized`], also accepting `?access_token=`.
pub struct QueryTokenAuthorized<S: SystemMarker, L: LevelMarker> {
    pub principal: Principal,
    _marker: PhantomData<(S, L)>,
}

impl<S: SystemMarker, L: LevelMarker> Guard for QueryTokenAuthorized<S, L> {
    const REQUIREMENT: Requirement = Requirement::System { system: S::SYSTEM, level: L::LEVEL };
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

impl<S: SystemMarker, L: LevelMarker> FromRequestParts<AppState> for QueryTokenAuthorized<S, L> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = match parts.headers.get(AUTHORIZATION) {
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| ApiError::new(ErrorCode::Unauthenticated, "malformed Authorization header"))?
                    .to_owned(),
            ),
            None => serde_urlencoded::from_str::<TokenQuery>(parts.uri.query().unwrap_or_default())
                .ok()
                .and_then(|query| query.access_token)
                .map(|token| format!("Bearer {token}")),
        };
        let principal = check_credential(header.as_deref(), state, Self::REQUIREMENT).await?;
        Ok(Self { principal, _marker: PhantomData })
    }
}
