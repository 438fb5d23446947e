//! Domain vocabulary shared by every Auterity part: ids, the access model, the error-code
//! catalogue, `SystemEvent`, and tenancy records. No I/O lives here.

pub mod access;
pub mod error;
pub mod event;
pub mod ids;
pub mod outbound_records;
pub mod records;
pub mod trigger_records;
pub mod workflow_records;

pub use access::{Level, System, SystemAccess};
pub use error::ErrorCode;
pub use event::SystemEvent;
pub use ids::{ApiKeyId, OrgId, TeamId, UserId};
