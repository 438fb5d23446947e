//! The access model: three systems, three ordered levels (`read` < `write` < `admin`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A part of the platform that access is granted to. Names are the seed's (`autmatrix` is spelled
/// as the seed spells it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Autmatrix,
    Relaycore,
    Neuroweaver,
}

impl System {
    pub const ALL: [System; 3] = [System::Autmatrix, System::Relaycore, System::Neuroweaver];

    pub fn as_str(self) -> &'static str {
        match self {
            System::Autmatrix => "autmatrix",
            System::Relaycore => "relaycore",
            System::Neuroweaver => "neuroweaver",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for System {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "autmatrix" => Ok(System::Autmatrix),
            "relaycore" => Ok(System::Relaycore),
            "neuroweaver" => Ok(System::Neuroweaver),
            other => Err(UnknownName(other.to_owned())),
        }
    }
}

/// An access level; the derive order is the privilege order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Read,
    Write,
    Admin,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Read, Level::Write, Level::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
        }
    }

    /// Whether holding `self` satisfies a requirement of `required`.
    pub fn satisfies(self, required: Level) -> bool {
        self >= required
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Level::Read),
            "write" => Ok(Level::Write),
            "admin" => Ok(Level::Admin),
            other => Err(UnknownName(other.to_owned())),
        }
    }
}

/// A name that is not one of a closed set.
#[derive(Debug, thiserror::Error)]
#[error("unknown name: {0}")]
pub struct UnknownName(pub String);

/// One entry of the JWT `systems` claim (seed: `SystemAccess`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SystemAccess {
    pub system: System,
    pub level: Level,
    #[serde(default)]
    pub resources: Vec<String>,
}

/// Platform-wide and organization roles. `superadmin` manages organizations; `admin` manages the
/// users of its own organization; `member` is everybody else.
pub mod roles {
    pub const SUPERADMIN: &str = "superadmin";
    pub const ADMIN: &str = "admin";
    pub const MEMBER: &str = "member";
    pub const ALL: [&str; 3] = [SUPERADMIN, ADMIN, MEMBER];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        assert!(Level::Admin.satisfies(Level::Write));
        assert!(Level::Write.satisfies(Level::Read));
        assert!(!Level::Read.satisfies(Level::Write));
        assert!(!Level::Write.satisfies(Level::Admin));
    }

    #[test]
    fn names_round_trip() {
        for s in System::ALL {
            assert_eq!(s.as_str().parse::<System>().unwrap(), s);
        }
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>().unwrap(), l);
        }
        assert!("root".parse::<Level>().is_err());
    }
}
