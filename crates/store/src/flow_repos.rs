//! The storage contract of flow control: runs of flow-limited workflows are written `pending`
//! and admitted (made `running`) here, in one serialized transaction per workflow that counts the
//! running runs from the database itself — so a crash loses no queued run and leaks no slot.

use async_trait::async_trait;
use auterity_types::SystemEvent;
use auterity_types::trigger_records::FlowLimits;
use auterity_types::workflow_records::RunRecord;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{OrgScope, StoreError};

#[async_trait]
pub trait FlowRepo: Send + Sync {
    /// Workflows that have `pending` runs, as `(organization scope, workflow id)`.
    async fn workflows_with_pending_runs(&self, limit: u32) -> Result<Vec<(OrgScope, Uuid)>, StoreError>;
    /// Admits pending runs of the workflow, highest priority first then oldest, while `limits`
    /// allow: each becomes `running` with `started_at = now` (its `unified_executions` row too)
    /// and gets the event `started_event` builds, all in one transaction serialized per workflow
    /// (PostgreSQL locks the workflow row; SQLite has one writer). Returns the admitted runs.
    async fn admit_pending_runs(
        &self,
        workflow_id: Uuid,
        limits: &FlowLimits,
        now: DateTime<Utc>,
        started_event: for<'r> fn(&'r RunRecord) -> SystemEvent,
    ) -> Result<Vec<RunRecord>, StoreError>;
}
