//! The storage contract of workflow triggers: the triggers a workflow's latest version declares,
//! webhook lookups by hook id and due cron ticks. A delivery becomes a run through
//! `WorkflowRepo::create_runs` (receipt + optional cron claim + the run's rows in one transaction),
//! so a delivery starts at most one run.

use async_trait::async_trait;
use auterity_types::trigger_records::{CronAdvance, TriggerRecord};
use auterity_types::workflow_records::WorkflowRecord;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{OrgScope, StoreError};

#[async_trait]
pub trait TriggerRepo: Send + Sync {
    /// Makes `triggers` (declared by `version`) the workflow's whole set, in one transaction: rows
    /// not in the list are deleted, the others inserted or overwritten (every column but
    /// `created_at`). Returns false (and writes nothing) when the workflow is not in scope, its
    /// latest version is no longer `version` (a newer save syncs its own), or a trigger is of
    /// another workflow or version.
    async fn replace_triggers(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
        version: i32,
        triggers: &[TriggerRecord],
    ) -> Result<bool, StoreError>;
    /// The workflow's triggers, by trigger id.
    async fn list_triggers(&self, scope: OrgScope, workflow_id: Uuid) -> Result<Vec<TriggerRecord>, StoreError>;
    /// The webhook trigger with this hook id and its active workflow, in one read, whatever its
    /// organization (the public hook route is authenticated by the signature, checked by the caller).
    async fn trigger_by_hook(&self, hook_id: Uuid) -> Result<Option<(TriggerRecord, WorkflowRecord)>, StoreError>;
    /// Replaces a webhook's encrypted secret; false when no such webhook is in scope.
    async fn set_trigger_secret(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
        trigger_id: &str,
        secret_encrypted: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Event triggers of active workflows listening to `event_type` in `org` (any organization's
    /// when `None`).
    async fn event_triggers(
        &self,
        org: Option<auterity_types::OrgId>,
        event_type: &str,
    ) -> Result<Vec<TriggerRecord>, StoreError>;
    /// Cron triggers of active workflows whose `next_fire_at <= now`, earliest first.
    async fn due_cron_triggers(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<TriggerRecord>, StoreError>;
    /// The earliest `next_fire_at` of a cron trigger of an active workflow.
    async fn next_cron_fire(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Moves a cron trigger's `next_fire_at` on without a run (the workflow cannot run, e.g. its
    /// inputs no longer validate), under the same conditional claim.
    async fn skip_cron_tick(
        &self,
        workflow_id: Uuid,
        trigger_id: &str,
        advance: &CronAdvance,
    ) -> Result<bool, StoreError>;
    /// Deletes receipts whose `expires_at` is before `now`; returns how many.
    async fn purge_receipts(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
