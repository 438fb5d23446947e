//! Authorization in the handler's type. Every handler's first argument is a guard extractor that
//! declares what the route needs; the route table reads the declaration from the handler's type,
//! so a handler without a guard does not compile into the router, and the authorization matrix
//! test checks every route against what it declared.

use auterity_auth::Principal;
use auterity_types::{Level, System};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::future::Future;
use std::marker::PhantomData;

use crate::error::ApiError;
use crate::state::AppState;
use auterity_types::ErrorCode;

/// What a route requires of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Requirement {
    /// Anyone, signed in or not (login, probes, docs).
    Public,
    /// Any valid credential, including a session that still has to enrol in MFA.
    Authenticated,
    /// A level on a system, e.g. `relaycore:write`.
    System { system: System, level: Level },
    /// An organization administrator.
    OrgAdmin,
    /// A platform superadmin.
    SuperAdmin,
}

impl Requirement {
    /// Whether a caller with this principal passes the requirement.
    pub fn admits(&self, principal: &Principal) -> bool {
        match self {
            Requirement::Public | Requirement::Authenticated => true,
            _ if principal.mfa_pending => false,
            Requirement::System { system, level } => principal.has_access(*system, *level),
            Requirement::OrgAdmin => principal.is_org_admin(),
            Requirement::SuperAdmin => principal.is_superadmin(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Requirement::Public => "public".to_owned(),
            Requirement::Authenticated => "authenticated".to_owned(),
            Requirement::System { system, level } => format!("{system}:{level}"),
            Requirement::OrgAdmin => "role:admin".to_owned(),
            Requirement::SuperAdmin => "role:superadmin".to_owned(),
        }
    }
}

/// Implemented by every guard extractor.
pub trait Guard {
    const REQUIREMENT: Requirement;
}

async fn authenticate_and_check(
    parts: &Parts,
    state: &AppState,
    requirement: Requirement,
) -> Result<Principal, ApiError> {
    let header = match parts.headers.get(AUTHORIZATION) {
        Some(value) => Some(
            value.to_str().map_err(|_| ApiError::new(ErrorCode::Unauthenticated, "malformed Authorization header"))?,
        ),
        None => None,
    };
    check_credential(header, state, requirement).await
}

/// Authenticates an `Authorization` header value (`Bearer …`) and checks it against `requirement`.
pub(crate) async fn check_credential(
    header: Option<&str>,
    state: &AppState,
    requirement: Requirement,
) -> Result<Principal, ApiError> {
    let principal = state.auth.authenticate(header).await?;
    if !requirement.admits(&principal) {
        metrics::counter!("auth_failures_total", "reason" => "forbidden").increment(1);
        let detail = if principal.mfa_pending {
            "enrol in TOTP MFA first: your role requires it".to_owned()
        } else {
            format!("this endpoint requires {}", requirement.describe())
        };
        return Err(ApiError::new(ErrorCode::Forbidden, detail));
    }
    Ok(principal)
}

/// A route anyone may call.
pub struct Public;

impl Guard for Public {
    const REQUIREMENT: Requirement = Requirement::Public;
}

impl FromRequestParts<AppState> for Public {
    type Rejection = ApiError;
    async fn from_request_parts(_parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Public)
    }
}

/// Any authenticated caller.
pub struct Authenticated(pub Principal);

impl Guard for Authenticated {
    const REQUIREMENT: Requirement = Requirement::Authenticated;
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_and_check(parts, state, Self::REQUIREMENT).await.map(Authenticated)
    }
}

/// An organization administrator.
pub struct OrgAdmin(pub Principal);

impl Guard for OrgAdmin {
    const REQUIREMENT: Requirement = Requirement::OrgAdmin;
}

impl FromRequestParts<AppState> for OrgAdmin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_and_check(parts, state, Self::REQUIREMENT).await.map(OrgAdmin)
    }
}

/// A platform superadmin.
pub struct SuperAdmin(pub Principal);

impl Guard for SuperAdmin {
    const REQUIREMENT: Requirement = Requirement::SuperAdmin;
}

impl FromRequestParts<AppState> for SuperAdmin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_and_check(parts, state, Self::REQUIREMENT).await.map(SuperAdmin)
    }
}

/// Type-level systems and levels for [`Authorized`].
pub trait SystemMarker: Send + Sync + 'static {
    const SYSTEM: System;
}
pub trait LevelMarker: Send + Sync + 'static {
    const LEVEL: Level;
}

pub struct Autmatrix;
impl SystemMarker for Autmatrix {
    const SYSTEM: System = System::Autmatrix;
}
pub struct Relaycore;
impl SystemMarker for Relaycore {
    const SYSTEM: System = System::Relaycore;
}
pub struct Neuroweaver;
impl SystemMarker for Neuroweaver {
    const SYSTEM: System = System::Neuroweaver;
}
pub struct Read;
impl LevelMarker for Read {
    const LEVEL: Level = Level::Read;
}
pub struct Write;
impl LevelMarker for Write {
    const LEVEL: Level = Level::Write;
}
pub struct Admin;
impl LevelMarker for Admin {
    const LEVEL: Level = Level::Admin;
}

/// A caller holding at least level `L` on system `S`: `Authorized<Relaycore, Write>`.
pub struct Authorized<S: SystemMarker, L: LevelMarker> {
    pub principal: Principal,
    _marker: PhantomData<(S, L)>,
}

impl<S: SystemMarker, L: LevelMarker> Guard for Authorized<S, L> {
    const REQUIREMENT: Requirement = Requirement::System { system: S::SYSTEM, level: L::LEVEL };
}

impl<S: SystemMarker, L: LevelMarker> FromRequestParts<AppState> for Authorized<S, L> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = authenticate_and_check(parts, state, Self::REQUIREMENT).await?;
        Ok(Self { principal, _marker: PhantomData })
    }
}

/// Reads the requirement off a handler's type: its first argument must be a [`Guard`].
pub trait HandlerRequirement<Args> {
    fn requirement(&self) -> Requirement;
}

macro_rules! impl_handler_requirement {
    ($($rest:ident),*) => {
        impl<F, Fut, G, $($rest,)*> HandlerRequirement<(G, $($rest,)*)> for F
        where
            F: Fn(G, $($rest,)*) -> Fut,
            Fut: Future,
            G: Guard,
        {
            fn requirement(&self) -> Requirement {
                G::REQUIREMENT
            }
        }
    };
}

impl_handler_requirement!();
impl_handler_requirement!(A);
impl_handler_requirement!(A, B);
impl_handler_requirement!(A, B, C);
impl_handler_requirement!(A, B, C, D);
impl_handler_requirement!(A, B, C, D, E);

pub fn requirement_of<Args, H: HandlerRequirement<Args>>(handler: &H) -> Requirement {
    handler.requirement()
}
