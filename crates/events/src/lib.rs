//! The event bus. Events are recorded in the transactional outbox (the record), then relayed in
//! order to a bus for subscribers. The in-process bus is the embedded default; the trait is shaped
//! for a JetStream backend (durable, at-least-once, replay by correlation id).

mod bus;
mod memory;
mod relay;

pub use bus::{BusError, EventBus, EventFilter, EventStream};
pub use memory::InProcessBus;
pub use relay::{Events, MAX_CONSUMER_ATTEMPTS, OutboxConsumer, OutboxRelay};
