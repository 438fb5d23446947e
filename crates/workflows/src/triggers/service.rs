//! `TriggerService`: turns deliveries into runs — signed webhook requests, cron ticks and system
//! events — each through one transaction that records a receipt with the run, so a delivery
//! starts at most one run whatever is retried, replayed or redelivered. Also lists triggers and
//! rotates webhook secrets.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use auterity_store::{OrgScope, StoreError};
use auterity_types::trigger_records::{CronAdvance, TriggerReceipt, TriggerRecord};
use auterity_types::workflow_records::{NewRun, RunRecord, WorkflowRecord};
use auterity_types::{ErrorCode, OrgId, SystemEvent};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::schedule::CronSchedule;
use super::signature::{SignatureError, SignatureHeader};
use super::sync::{encrypt_secret, generate_secret, secret_aad};
use crate::definition::{TriggerDefinition, TriggerKind};
use crate::engine::service::{StartRun, WorkflowError, WorkflowService};
use crate::expr::{EvalContext, Expression, ValueTemplate};

/// How long cron and event receipts are kept (webhook receipts only outlive the replay window).
const RECEIPT_RETENTION: chrono::Duration = chrono::Duration::days(7);

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("this request was already accepted (replayed signature)")]
    Replayed,
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TriggerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TriggerError::NotFound(_) => ErrorCode::NotFound,
            TriggerError::Signature(_) => ErrorCode::Unauthenticated,
            TriggerError::Replayed => ErrorCode::AlreadyExists,
            TriggerError::BadRequest(_) => ErrorCode::BadRequest,
            TriggerError::Workflow(e) => e.code(),
            TriggerError::Store(e) => e.code(),
        }
    }
}

/// Settings of trigger handling.
#[derive(Clone, Debug)]
pub struct TriggerSettings {
    /// A webhook timestamp older or newer than this (seconds) is refused.
    pub replay_window_secs: i64,
}

impl Default for TriggerSettings {
    fn default() -> Self {
        Self { replay_window_secs: 300 }
    }
}

/// A trigger as `GET /api/workflows/{id}/triggers` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TriggerState {
    pub id: String,
    pub kind: String,
    pub version: i32,
    pub definition: Value,
    /// Webhooks: the path to POST to (`/api/hooks/{hook_id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_fire_at: Option<DateTime<Utc>>,
    pub last_fired_at: Option<DateTime<Utc>>,
}

impl From<TriggerRecord> for TriggerState {
    fn from(t: TriggerRecord) -> Self {
        Self {
            id: t.trigger_id,
            kind: t.kind,
            version: t.version,
            definition: t.config,
            webhook_path: t.hook_id.map(|hook| format!("/api/hooks/{hook}")),
            next_fire_at: t.next_fire_at,
            last_fired_at: t.last_fired_at,
        }
    }
}

pub struct TriggerService {
    workflows: Arc<WorkflowService>,
    settings: TriggerSettings,
}

impl TriggerService {
    pub fn new(workflows: Arc<WorkflowService>, settings: TriggerSettings) -> Self {
        Self { workflows, settings }
    }

    pub async fn list(&self, org: OrgId, workflow_id: Uuid) -> Result<Vec<TriggerState>, TriggerError> {
        self.workflows.get(org, workflow_id).await?;
        let triggers = self.workflows.store().triggers.list_triggers(OrgScope(org), workflow_id).await?;
        Ok(triggers.into_iter().map(Into::into).collect())
    }

    /// Replaces a webhook's secret and returns the new one (shown this once); the old one stops
    /// verifying immediately.
    pub async fn rotate_secret(&self, org: OrgId, workflow_id: Uuid, trigger_id: &str) -> Result<String, TriggerError> {
        let secret = generate_secret();
        let sealed = encrypt_secret(self.workflows.master_key(), workflow_id, trigger_id, &secret)?;
        let store = &self.workflows.store().triggers;
        if store.set_trigger_secret(OrgScope(org), workflow_id, trigger_id, &sealed, Utc::now()).await? {
            Ok(secret)
        } else {
            Err(TriggerError::NotFound("webhook trigger"))
        }
    }

    /// A webhook delivery: the signature is checked before the body is parsed; the JSON body
    /// becomes the run's inputs; the signature's receipt is written with the run.
    pub async fn receive_webhook(
        &self,
        hook_id: Uuid,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> Result<RunRecord, TriggerError> {
        let (trigger, workflow) =
            self.workflows.store().triggers.trigger_by_hook(hook_id).await?.ok_or(TriggerError::NotFound("webhook"))?;
        let header = SignatureHeader::parse(signature_header)?;
        let sealed = trigger.secret_encrypted.as_deref().ok_or(TriggerError::NotFound("webhook"))?;
        let secret = self
            .workflows
            .master_key()
            .decrypt(sealed, &secret_aad(trigger.workflow_id, &trigger.trigger_id))
            .map_err(|e| WorkflowError::Internal(format!("failed to decrypt a webhook secret: {e}")))?;
        let now = Utc::now();
        let window = self.settings.replay_window_secs;
        let signature = header.verify(&secret, body, now.timestamp(), window)?;
        let inputs: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body).map_err(|e| TriggerError::BadRequest(format!("body is not JSON: {e}")))?
        };
        let receipt_expiry = DateTime::from_timestamp(header.timestamp.saturating_add(window + 60), 0);
        let receipt = |run_id| TriggerReceipt {
            workflow_id: trigger.workflow_id,
            trigger_id: trigger.trigger_id.clone(),
            key: format!("sig:{signature}"),
            run_id,
            expires_at: Some(receipt_expiry.unwrap_or(now + RECEIPT_RETENTION)),
            created_at: now,
        };
        match self.start(&trigger, &workflow, inputs, receipt, None).await? {
            Some(run) => Ok(run),
            None => Err(TriggerError::Replayed),
        }
    }

    /// Fires every cron tick due at `now`; returns how many runs started. A trigger whose stored
    /// next tick lies several periods back fires once, for that tick, then moves to the first tick
    /// after `now`: a downtime does not cause a burst.
    pub async fn fire_due_cron(&self, now: DateTime<Utc>) -> Result<usize, TriggerError> {
        let due = self.workflows.store().triggers.due_cron_triggers(now, 100).await?;
        let mut started = 0;
        for trigger in due {
            let Some(expected) = trigger.next_fire_at else { continue };
            let Ok(definition) = serde_json::from_value::<TriggerDefinition>(trigger.config.clone()) else { continue };
            let TriggerKind::Cron { schedule, timezone, inputs } = &definition.kind else { continue };
            let next_fire_at = CronSchedule::parse(schedule, timezone.as_deref())
                .ok()
                .and_then(|schedule| schedule.next_after(now.max(expected)));
            let advance = CronAdvance { expected, next_fire_at };
            let receipt = |run_id| TriggerReceipt {
                workflow_id: trigger.workflow_id,
                trigger_id: trigger.trigger_id.clone(),
                key: format!("tick:{}", expected.to_rfc3339()),
                run_id,
                expires_at: Some(now + RECEIPT_RETENTION),
                created_at: now,
            };
            let inputs = inputs.clone().unwrap_or(Value::Null);
            match self.start_latest(&trigger, inputs, receipt, Some(&advance)).await {
                Ok(Some(_)) => started += 1,
                Ok(None) => {} // another worker fired this tick
                Err(TriggerError::Workflow(WorkflowError::Invalid(_) | WorkflowError::NotFound(_))) => {
                    tracing::warn!(workflow_id = %trigger.workflow_id, trigger = %trigger.trigger_id, "cron tick skipped: the workflow cannot start");
                    self.workflows
                        .store()
                        .triggers
                        .skip_cron_tick(trigger.workflow_id, &trigger.trigger_id, &advance)
                        .await?;
                }
                Err(other) => return Err(other),
            }
        }
        Ok(started)
    }

    /// Starts one run per event trigger of the event's organization that listens to its type and
    /// whose filter holds. The `event:<id>` receipt makes a redelivered event start nothing new.
    pub async fn deliver_event(&self, event: &SystemEvent) -> Result<usize, TriggerError> {
        let Some(org) = event.org_id else { return Ok(0) };
        let triggers = self.workflows.store().triggers.event_triggers(Some(org), &event.event_type).await?;
        self.deliver_to(event, &triggers).await
    }

    /// [`Self::deliver_event`] for a batch handed over by the outbox relay, reading the triggers of
    /// each organization and event type once. Only a store failure is an error (the relay hands
    /// the batch over again); a trigger that cannot start a run for an event is logged and skipped.
    pub async fn deliver_events(&self, events: &[SystemEvent]) -> Result<usize, StoreError> {
        let mut triggers: HashMap<(OrgId, &str), Vec<TriggerRecord>> = HashMap::new();
        let mut started = 0;
        for event in events {
            let Some(org) = event.org_id else { continue };
            let listening = match triggers.entry((org, event.event_type.as_str())) {
                Entry::Occupied(found) => found.into_mut(),
                Entry::Vacant(slot) => {
                    slot.insert(self.workflows.store().triggers.event_triggers(Some(org), &event.event_type).await?)
                }
            };
            match self.deliver_to(event, listening).await {
                Ok(count) => started += count,
                Err(TriggerError::Store(error) | TriggerError::Workflow(WorkflowError::Store(error))) => {
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(event_id = %event.event_id, %error, "an event trigger could not start a run")
                }
            }
        }
        Ok(started)
    }

    async fn deliver_to(&self, event: &SystemEvent, triggers: &[TriggerRecord]) -> Result<usize, TriggerError> {
        if triggers.is_empty() {
            return Ok(0);
        }
        let event_json = json!({
            "event_id": event.event_id,
            "event_type": event.event_type,
            "source_service": event.source_service,
            "correlation_id": event.correlation_id,
            "timestamp": event.timestamp,
            "payload": event.payload,
        });
        let mut started = 0;
        for trigger in triggers {
            // A workflow's own run events never start it again (no self-sustaining loops).
            if event.event_type.starts_with("workflow.")
                && event.payload.get("workflow_id").and_then(Value::as_str) == Some(&trigger.workflow_id.to_string())
            {
                continue;
            }
            let Ok(definition) = serde_json::from_value::<TriggerDefinition>(trigger.config.clone()) else { continue };
            let TriggerKind::Event { filter, inputs, .. } = &definition.kind else { continue };
            let context = EvalContext { event: Some(event_json.clone()), ..EvalContext::default() };
            if let Some(filter) = filter {
                match Expression::compile(filter).and_then(|e| e.evaluate_bool(&context)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(error) => {
                        tracing::warn!(workflow_id = %trigger.workflow_id, trigger = %trigger.trigger_id, %error, "event filter failed");
                        continue;
                    }
                }
            }
            let run_inputs = match inputs {
                None => json!({"event": event_json}),
                Some(template) => match ValueTemplate::compile(template).and_then(|t| t.render(&context)) {
                    Ok(value) => value,
                    Err(error) => {
                        tracing::warn!(workflow_id = %trigger.workflow_id, trigger = %trigger.trigger_id, %error, "event trigger inputs failed");
                        continue;
                    }
                },
            };
            let now = Utc::now();
            let receipt = |run_id| TriggerReceipt {
                workflow_id: trigger.workflow_id,
                trigger_id: trigger.trigger_id.clone(),
                key: format!("event:{}", event.event_id),
                run_id,
                expires_at: Some(now + RECEIPT_RETENTION),
                created_at: now,
            };
            match self.start_latest(trigger, run_inputs, receipt, None).await {
                Ok(Some(_)) => started += 1,
                Ok(None) => {}
                Err(TriggerError::Workflow(WorkflowError::Invalid(errors))) => {
                    tracing::warn!(workflow_id = %trigger.workflow_id, trigger = %trigger.trigger_id, problems = ?errors, "event does not match the workflow's inputs");
                }
                Err(other) => return Err(other),
            }
        }
        Ok(started)
    }

    pub async fn purge_receipts(&self, now: DateTime<Utc>) -> Result<u64, TriggerError> {
        Ok(self.workflows.store().triggers.purge_receipts(now).await?)
    }

    pub async fn next_cron_fire(&self) -> Result<Option<DateTime<Utc>>, TriggerError> {
        Ok(self.workflows.store().triggers.next_cron_fire().await?)
    }

    /// [`Self::start`] with the trigger's workflow read first (cron and event starts; a webhook
    /// delivery reads both at once).
    async fn start_latest(
        &self,
        trigger: &TriggerRecord,
        inputs: Value,
        receipt: impl FnOnce(Uuid) -> TriggerReceipt,
        advance: Option<&CronAdvance>,
    ) -> Result<Option<RunRecord>, TriggerError> {
        let workflow = self.workflows.get(trigger.org_id, trigger.workflow_id).await?;
        self.start(trigger, &workflow, inputs, receipt, advance).await
    }

    /// Writes a run of the trigger's workflow with its receipt (and cron claim). `None` when the
    /// receipt existed or the tick was taken: nothing was written.
    async fn start(
        &self,
        trigger: &TriggerRecord,
        workflow: &WorkflowRecord,
        inputs: Value,
        receipt: impl FnOnce(Uuid) -> TriggerReceipt,
        advance: Option<&CronAdvance>,
    ) -> Result<Option<RunRecord>, TriggerError> {
        let priority = trigger.config.get("priority").and_then(Value::as_i64).unwrap_or(0);
        let request =
            StartRun { inputs, trigger: trigger.kind.clone(), priority: i32::try_from(priority).unwrap_or(0) };
        let (run, steps, effects) = self.workflows.prepare_run(workflow, workflow.user_id, request)?;
        let receipt = Some(receipt(run.id));
        let start = NewRun { run: run.clone(), steps, effects, receipt, advance: advance.cloned() };
        Ok(self.workflows.write_run(start).await?.then_some(run))
    }
}

#[async_trait::async_trait]
impl auterity_events::OutboxConsumer for TriggerService {
    fn name(&self) -> &'static str {
        "event triggers"
    }

    async fn consume(&self, events: &[SystemEvent]) -> Result<(), String> {
        self.deliver_events(events).await.map(drop).map_err(|e| e.to_string())
    }
}

/// Sleep bound of the scheduler loop; also how late a tick may fire after a definition change.
pub(crate) const MAX_SCHEDULER_SLEEP: Duration = Duration::from_secs(1);
