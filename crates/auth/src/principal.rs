//! The authenticated caller, however it proved itself (access token or API key).

use auterity_types::access::roles;
use auterity_types::{ApiKeyId, Level, OrgId, System, SystemAccess, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq)]
pub enum Credential {
    AccessToken {
        jti: Uuid,
        expires_at: DateTime<Utc>,
    },
    ApiKey {
        id: ApiKeyId,
    },
    /// The local operator using the `auterity` CLI against the database directly.
    System,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub roles: Vec<String>,
    pub systems: Vec<SystemAccess>,
    pub credential: Credential,
    /// True while a user whose role requires MFA has not enrolled yet: only the enrolment and
    /// self-service endpoints are open to such a caller.
    pub mfa_pending: bool,
}

impl Principal {
    /// A superadmin acting for the local operator (CLI) inside `org`; audited with no actor.
    pub fn system(org_id: OrgId) -> Self {
        Self {
            user_id: UserId(Uuid::nil()),
            org_id,
            roles: vec![roles::SUPERADMIN.to_owned(), roles::ADMIN.to_owned()],
            systems: System::ALL
                .into_iter()
                .map(|system| SystemAccess { system, level: Level::Admin, resources: vec![] })
                .collect(),
            credential: Credential::System,
            mfa_pending: false,
        }
    }

    /// The user to record as the actor of what this principal does.
    pub fn actor(&self) -> Option<UserId> {
        (self.credential != Credential::System).then_some(self.user_id)
    }

    pub fn level_for(&self, system: System) -> Option<Level> {
        self.systems.iter().filter(|access| access.system == system).map(|access| access.level).max()
    }

    pub fn has_access(&self, system: System, level: Level) -> bool {
        self.level_for(system).is_some_and(|held| held.satisfies(level))
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_superadmin(&self) -> bool {
        self.has_role(roles::SUPERADMIN)
    }

    /// Organization administrators (superadmins administer their own organization too).
    pub fn is_org_admin(&self) -> bool {
        self.has_role(roles::ADMIN) || self.is_superadmin()
    }
}

/// `system:level` strings for every level a grant implies, e.g. `autmatrix:read`, `autmatrix:write`.
pub fn permissions_for(systems: &[SystemAccess]) -> Vec<String> {
    let mut permissions = Vec::new();
    for access in systems {
        for level in Level::ALL.into_iter().filter(|level| access.level.satisfies(*level)) {
            permissions.push(format!("{}:{}", access.system, level));
        }
    }
    permissions.sort();
    permissions.dedup();
    permissions
}
