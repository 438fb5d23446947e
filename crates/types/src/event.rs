//! `SystemEvent`: the cross-system event, serialised as CloudEvents 1.0 structured JSON
//! (CloudEvents spec v1.0.2, "JSON Event Format"). Extension attributes carry the seed's fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::OrgId;

/// Event types published by the platform foundation.
pub mod types {
    pub const AUTHENTICATION_FAILED: &str = "security.authentication_failed";
    pub const USER_CREATED: &str = "user.created";
    pub const ACCESS_GRANTED: &str = "access.granted";
    pub const ACCESS_REVOKED: &str = "access.revoked";
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub source_service: String,
    pub target_services: Vec<String>,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub timestamp: DateTime<Utc>,
    pub version: String,
    /// The organization the event belongs to; `None` for platform-level events.
    pub org_id: Option<OrgId>,
    pub payload: serde_json::Value,
}

impl SystemEvent {
    pub fn new(event_type: &str, source_service: &str, org_id: Option<OrgId>, payload: serde_json::Value) -> Self {
        let event_id = Uuid::now_v7();
        Self {
            event_id,
            event_type: event_type.to_owned(),
            source_service: source_service.to_owned(),
            target_services: Vec::new(),
            correlation_id: event_id,
            causation_id: None,
            timestamp: Utc::now(),
            version: "1.0".to_owned(),
            org_id,
            payload,
        }
    }

    pub fn with_correlation(mut self, correlation_id: Uuid, causation_id: Option<Uuid>) -> Self {
        self.correlation_id = correlation_id;
        self.causation_id = causation_id;
        self
    }

    /// CloudEvents 1.0 structured-mode JSON.
    pub fn to_cloudevent(&self) -> serde_json::Value {
        serde_json::json!({
            "specversion": "1.0",
            "id": self.event_id.to_string(),
            "source": format!("/auterity/{}", self.source_service),
            "type": self.event_type,
            "time": self.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "datacontenttype": "application/json",
            "correlationid": self.correlation_id.to_string(),
            "causationid": self.causation_id.map(|id| id.to_string()),
            "targetservices": self.target_services,
            "eventversion": self.version,
            "orgid": self.org_id.map(|id| id.to_string()),
            "data": self.payload,
        })
    }

    /// Parses CloudEvents 1.0 structured JSON produced by [`SystemEvent::to_cloudevent`].
    pub fn from_cloudevent(value: &serde_json::Value) -> Option<Self> {
        let str_field = |name: &str| value.get(name).and_then(|v| v.as_str());
        if str_field("specversion")? != "1.0" {
            return None;
        }
        let source = str_field("source")?;
        Some(Self {
            event_id: str_field("id")?.parse().ok()?,
            event_type: str_field("type")?.to_owned(),
            source_service: source.strip_prefix("/auterity/").unwrap_or(source).to_owned(),
            target_services: value
                .get("targetservices")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
            correlation_id: str_field("correlationid")?.parse().ok()?,
            causation_id: str_field("causationid").and_then(|s| s.parse().ok()),
            timestamp: DateTime::parse_from_rfc3339(str_field("time")?).ok()?.with_timezone(&Utc),
            version: str_field("eventversion").unwrap_or("1.0").to_owned(),
            org_id: str_field("orgid").and_then(|s| s.parse().ok()),
            payload: value.get("data").cloned().unwrap_or(serde_json::Value::Null),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudevent_round_trip() {
        let event = SystemEvent::new(types::USER_CREATED, "auth", Some(OrgId::new()), serde_json::json!({"a": 1}));
        let json = event.to_cloudevent();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "user.created");
        let back = SystemEvent::from_cloudevent(&json).unwrap();
        assert_eq!(back.event_id, event.event_id);
        assert_eq!(back.org_id, event.org_id);
        assert_eq!(back.payload, event.payload);
    }
}
