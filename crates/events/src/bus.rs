//! The bus contract shared by every backend.

use async_trait::async_trait;
use auterity_types::SystemEvent;
use futures::stream::BoxStream;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// Which events a subscriber wants: exact types, or prefixes written `workflow.*`; empty = all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub types: Vec<String>,
    pub correlation_id: Option<uuid::Uuid>,
}

impl EventFilter {
    pub fn all() -> Self {
        Self::default()
    }

    pub fn types(types: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self { types: types.into_iter().map(Into::into).collect(), correlation_id: None }
    }

    pub fn matches(&self, event: &SystemEvent) -> bool {
        if self.correlation_id.is_some_and(|id| id != event.correlation_id) {
            return false;
        }
        self.types.is_empty()
            || self.types.iter().any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => event.event_type.starts_with(prefix),
                None => *pattern == event.event_type,
            })
    }
}

pub type EventStream = BoxStream<'static, SystemEvent>;

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Delivers a committed event to current subscribers. Called by the outbox relay only.
    async fn publish(&self, event: &SystemEvent) -> Result<(), BusError>;
    /// A live stream of matching events published from now on.
    fn subscribe(&self, filter: EventFilter) -> EventStream;
    fn backend_name(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_exact_type_and_prefix() {
        let event = SystemEvent::new("workflow.run.started", "test", None, serde_json::Value::Null);
        assert!(EventFilter::all().matches(&event));
        assert!(EventFilter::types(["workflow.*"]).matches(&event));
        assert!(EventFilter::types(["workflow.run.started"]).matches(&event));
        assert!(!EventFilter::types(["workflow.run"]).matches(&event));
        assert!(!EventFilter::types(["user.*"]).matches(&event));
    }
}
