//! In-process bus on a tokio broadcast channel. A subscriber that falls more than the channel's
//! capacity behind skips ahead (and logs it); durable consumers read the outbox instead.

use async_trait::async_trait;
use auterity_types::SystemEvent;
use futures::StreamExt;
use tokio::sync::broadcast;

use crate::{BusError, EventBus, EventFilter, EventStream};

pub struct InProcessBus {
    sender: broadcast::Sender<SystemEvent>,
}

impl InProcessBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        Self { sender }
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: &SystemEvent) -> Result<(), BusError> {
        // No subscribers is not an error: the outbox keeps the record.
        let _ = self.sender.send(event.clone());
        Ok(())
    }

    fn subscribe(&self, filter: EventFilter) -> EventStream {
        let receiver = self.sender.subscribe();
        futures::stream::unfold((receiver, filter), |(mut receiver, filter)| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) if filter.matches(&event) => return Some((event, (receiver, filter))),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "event subscriber lagged; events skipped");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    fn backend_name(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_matching_events_in_order() {
        let bus = InProcessBus::default();
        let mut users = bus.subscribe(EventFilter::types(["user.*"]));
        for kind in ["user.created", "access.granted", "user.disabled"] {
            bus.publish(&SystemEvent::new(kind, "test", None, serde_json::Value::Null)).await.unwrap();
        }
        assert_eq!(users.next().await.unwrap().event_type, "user.created");
        assert_eq!(users.next().await.unwrap().event_type, "user.disabled");
    }
}
