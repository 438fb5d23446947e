//! Keeps a workflow's stored triggers equal to what its latest version declares. Webhooks keep
//! their hook id and secret across versions (a new one is created, and returned once, only for a
//! new webhook); cron triggers keep their next tick unless their schedule changed.

use auterity_auth::crypto::MasterKey;
use auterity_store::{OrgScope, Store};
use auterity_types::trigger_records::TriggerRecord;
use auterity_types::workflow_records::WorkflowRecord;
use chrono::Utc;
use rand::RngCore as _;
use serde::Serialize;
use uuid::Uuid;

use super::schedule::CronSchedule;
use crate::definition::{TriggerKind, WorkflowDefinition};
use crate::engine::service::WorkflowError;

/// A webhook secret just created: the only time it is shown.
#[derive(Clone, Debug, Serialize)]
pub struct NewWebhookSecret {
    pub trigger_id: String,
    pub secret: String,
}

/// A fresh signing secret: `whsec_` and 32 random bytes in hex. The HMAC key is the whole string.
pub(crate) fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// The associated data binding an encrypted secret to its trigger (a ciphertext copied to another
/// row does not decrypt).
pub(crate) fn secret_aad(workflow_id: Uuid, trigger_id: &str) -> Vec<u8> {
    format!("webhook_secret:{workflow_id}:{trigger_id}").into_bytes()
}

pub(crate) fn encrypt_secret(
    key: &MasterKey,
    workflow_id: Uuid,
    trigger_id: &str,
    secret: &str,
) -> Result<String, WorkflowError> {
    key.encrypt(secret.as_bytes(), &secret_aad(workflow_id, trigger_id))
        .map_err(|e| WorkflowError::Internal(format!("failed to encrypt a webhook secret: {e}")))
}

/// Writes the triggers `definition` declares for `workflow` (its latest version).
pub async fn sync_triggers(
    store: &Store,
    key: &MasterKey,
    workflow: &WorkflowRecord,
    definition: &WorkflowDefinition,
) -> Result<Vec<NewWebhookSecret>, WorkflowError> {
    let scope = OrgScope(workflow.org_id);
    let existing = store.triggers.list_triggers(scope, workflow.id).await?;
    let now = Utc::now();
    let mut records = Vec::with_capacity(definition.triggers.len());
    let mut secrets = Vec::new();
    for trigger in &definition.triggers {
        let config = serde_json::to_value(trigger).map_err(|e| WorkflowError::Internal(e.to_string()))?;
        let previous = existing.iter().find(|t| t.trigger_id == trigger.id && t.kind == trigger.kind.name());
        let mut record = TriggerRecord {
            workflow_id: workflow.id,
            trigger_id: trigger.id.clone(),
            org_id: workflow.org_id,
            kind: trigger.kind.name().to_owned(),
            version: workflow.latest_version,
            config: config.clone(),
            hook_id: None,
            secret_encrypted: None,
            next_fire_at: None,
            last_fired_at: previous.and_then(|p| p.last_fired_at),
            created_at: previous.map_or(now, |p| p.created_at),
            updated_at: now,
        };
        match &trigger.kind {
            TriggerKind::Webhook {} => match previous.and_then(|p| Some((p.hook_id?, p.secret_encrypted.clone()?))) {
                Some((hook_id, secret_encrypted)) => {
                    record.hook_id = Some(hook_id);
                    record.secret_encrypted = Some(secret_encrypted);
                }
                None => {
                    let secret = generate_secret();
                    record.hook_id = Some(Uuid::new_v4());
                    record.secret_encrypted = Some(encrypt_secret(key, workflow.id, &trigger.id, &secret)?);
                    secrets.push(NewWebhookSecret { trigger_id: trigger.id.clone(), secret });
                }
            },
            TriggerKind::Cron { schedule, timezone, .. } => {
                let same_schedule = previous.is_some_and(|p| {
                    p.config.get("schedule") == config.get("schedule")
                        && p.config.get("timezone") == config.get("timezone")
                });
                record.next_fire_at = match previous.filter(|_| same_schedule).and_then(|p| p.next_fire_at) {
                    Some(next) => Some(next),
                    None => CronSchedule::parse(schedule, timezone.as_deref())
                        .map_err(|e| WorkflowError::Internal(e.to_string()))?
                        .next_after(now),
                };
            }
            TriggerKind::Event { .. } => {}
        }
        records.push(record);
    }
    if !store.triggers.replace_triggers(scope, workflow.id, workflow.latest_version, &records).await? {
        // A newer version was saved meanwhile and syncs its own triggers; secrets made here are void.
        return Ok(Vec::new());
    }
    Ok(secrets)
}
