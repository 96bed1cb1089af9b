//! The event bus: what changed, published by the services after their
//! transaction commits and read by GraphQL subscriptions.
//!
//! In-process for now: one `tokio::sync::broadcast` channel per server. An
//! [`Event`] is plain, serialisable data (`{"type": "datasetChanged", …}`) so
//! that a PostgreSQL LISTEN/NOTIFY relay can later carry it between instances
//! sharing a database: such a relay publishes what it hears into this bus and
//! subscribers keep reading [`EventBus::subscribe`].
//!
//! Delivery is best effort: an event published while nobody listens is
//! dropped, and a subscriber more than [`CAPACITY`] events behind skips the
//! oldest (its receiver reports `Lagged`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events a subscriber may fall behind by before it skips some.
pub const CAPACITY: usize = 1024;

/// What happened to a dataset.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DatasetChange {
    /// Files were attached to it.
    FilesAttached,
    /// Files were detached from it.
    FilesDetached,
    /// Files were moved into it (a mirrored dataset).
    FilesMovedIn,
    /// Files were moved out of it into another dataset (a mirrored dataset).
    FilesMovedOut,
    /// Its title or description changed.
    SettingsChanged,
    /// A collaborator was added, removed or given another role.
    CollaboratorsChanged,
    /// It was deleted; nothing follows.
    Deleted,
}

/// Something that changed, as subscribers receive it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// A dataset changed.
    DatasetChanged {
        dataset_id: Uuid,
        change: DatasetChange,
        /// When the change was committed.
        at: DateTime<Utc>,
    },
}

/// Publishes events to every current subscriber. Cheap to clone: clones
/// share one channel.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    /// An in-process bus.
    pub fn new() -> EventBus {
        let (sender, _) = broadcast::channel(CAPACITY);
        EventBus { sender }
    }

    /// Sends an event to every current subscriber (none: it is dropped).
    pub fn publish(&self, event: Event) {
        tracing::debug!(?event, "event");
        let _ = self.sender.send(event);
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// How many receivers are open (subscriptions listening now).
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Publishes `DatasetChanged` for a change committed just now.
    pub fn dataset_changed(&self, dataset_id: Uuid, change: DatasetChange) {
        self.publish(Event::DatasetChanged {
            dataset_id,
            change,
            at: Utc::now(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_to_every_subscriber_and_serialises() {
        let bus = EventBus::new();
        bus.dataset_changed(Uuid::nil(), DatasetChange::Deleted); // nobody listens: dropped
        let (mut a, mut b) = (bus.subscribe(), bus.clone().subscribe());
        let id = Uuid::now_v7();
        bus.dataset_changed(id, DatasetChange::FilesMovedIn);
        let event = a.recv().await.unwrap();
        assert_eq!(b.recv().await.unwrap(), event);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "datasetChanged");
        assert_eq!(json["datasetId"], id.to_string());
        assert_eq!(json["change"], "FILES_MOVED_IN");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}
