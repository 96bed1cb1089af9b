//! The event bus: what changed, published by the services after their
//! transaction commits and read by GraphQL subscriptions.
//!
//! Each server has one `tokio::sync::broadcast` channel. On PostgreSQL the bus
//! also relays every event through LISTEN/NOTIFY on the channel
//! `annograph_events`, so that a subscriber on one instance sees what another
//! instance sharing the database did: an [`Event`] is plain, serialisable
//! data (`{"type": "datasetChanged", …}`), sent with the id of the instance
//! that published it, and each instance delivers what it hears from the
//! others (its own events it has already delivered locally).
//!
//! Delivery is best effort: an event published while nobody listens is
//! dropped, and a subscriber more than [`CAPACITY`] events behind skips the
//! oldest (its receiver reports `Lagged`).

use chrono::{DateTime, Utc};
use entity::enums::ImportJobStatus;
use sea_orm::sqlx::{self, postgres::PgListener};
use sea_orm::DatabaseConnection;
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

/// Where an import job is in its life: QUEUED → RUNNING → SUCCEEDED,
/// FAILED or CANCELLED.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportStatus {
    /// Waiting for an instance to run it.
    Queued,
    /// Objects are being read and registered.
    Running,
    /// Every entry was processed (in a job that ignores file errors, some
    /// may have failed: see `failed`).
    Succeeded,
    /// The job stopped at an error; an all-or-nothing job registered nothing.
    Failed,
    /// Stopped on request; what was registered before stays.
    Cancelled,
}

impl ImportStatus {
    /// Nothing follows a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ImportStatus::Succeeded | ImportStatus::Failed | ImportStatus::Cancelled
        )
    }
}

impl From<ImportJobStatus> for ImportStatus {
    fn from(stored: ImportJobStatus) -> ImportStatus {
        match stored {
            ImportJobStatus::Queued => ImportStatus::Queued,
            ImportJobStatus::Running => ImportStatus::Running,
            ImportJobStatus::Succeeded => ImportStatus::Succeeded,
            ImportJobStatus::Failed => ImportStatus::Failed,
            ImportJobStatus::Cancelled => ImportStatus::Cancelled,
        }
    }
}

impl From<ImportStatus> for ImportJobStatus {
    fn from(status: ImportStatus) -> ImportJobStatus {
        match status {
            ImportStatus::Queued => ImportJobStatus::Queued,
            ImportStatus::Running => ImportJobStatus::Running,
            ImportStatus::Succeeded => ImportJobStatus::Succeeded,
            ImportStatus::Failed => ImportJobStatus::Failed,
            ImportStatus::Cancelled => ImportJobStatus::Cancelled,
        }
    }
}

/// The counters of an import job at one moment.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportCounts {
    pub status: ImportStatus,
    pub total: i64,
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
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
    /// An import job was queued, progressed or ended.
    ImportProgress {
        job_id: Uuid,
        dataset_id: Uuid,
        counts: ImportCounts,
        at: DateTime<Utc>,
    },
}

/// The PostgreSQL channel events travel on between instances.
pub const CHANNEL: &str = "annograph_events";

/// An event as it travels between instances.
#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: Uuid,
    event: Event,
}

/// Publishes events to every current subscriber. Cheap to clone: clones
/// share one channel.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    /// Receivers held by the server itself (the import workers), not by
    /// subscriptions.
    internal: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Events to send to the other instances, when relaying.
    outbox: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
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
        EventBus {
            sender,
            internal: Default::default(),
            outbox: None,
        }
    }

    /// A bus that also shares events with every other instance using the
    /// same PostgreSQL database (LISTEN/NOTIFY). The listening connection is
    /// opened here, so that a server that cannot relay fails at start. The
    /// relay has two connections of its own, beside the pool rather than
    /// taken from it: one held for the server's lifetime to listen (from the
    /// pool, it would leave requests one connection fewer than
    /// `--db-max-connections` says, and none at all with a pool of one), one
    /// to notify, so that relaying a request's events, which happens after
    /// it answers, neither waits for nor takes a connection from requests.
    /// Its statements are not among `annograph_sql_statements_total`.
    pub async fn relayed_through_postgres(
        db: &DatabaseConnection,
    ) -> Result<EventBus, sqlx::Error> {
        let origin = Uuid::new_v4();
        let options = db.get_postgres_connection_pool().connect_options();
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with((*options).clone())
            .await?;
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(CHANNEL).await?;
        let (outbox, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let bus = EventBus {
            outbox: Some(outbox),
            ..EventBus::new()
        };

        let deliver = bus.sender.clone();
        // Dropped when the last clone of the bus is: the listener stops too.
        let (bus_alive, mut bus_gone) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                // `recv` reconnects by itself after a lost connection; what
                // was sent meanwhile is lost (delivery is best effort).
                let received = tokio::select! {
                    _ = &mut bus_gone => break,
                    received = listener.recv() => received,
                };
                match received {
                    Ok(notification) => {
                        match serde_json::from_str::<Envelope>(notification.payload()) {
                            Ok(envelope) if envelope.origin != origin => {
                                let _ = deliver.send(envelope.event);
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "unreadable event from another instance")
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event relay: listening failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });

        tokio::spawn(async move {
            while let Some(event) = outgoing.recv().await {
                let payload = match serde_json::to_string(&Envelope { origin, event }) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "event relay: cannot encode an event");
                        continue;
                    }
                };
                let notify = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(&own)
                    .await;
                if let Err(e) = notify {
                    tracing::warn!(error = %e, "event relay: NOTIFY failed; the other instances miss an event");
                }
            }
            // Every clone of the bus is gone: so are the relay's connections.
            drop(bus_alive);
            own.close().await;
        });
        Ok(bus)
    }

    /// Sends an event to every current subscriber here (none: it is dropped)
    /// and, when relaying, to the other instances.
    pub fn publish(&self, event: Event) {
        tracing::debug!(?event, "event");
        if let Some(outbox) = &self.outbox {
            let _ = outbox.send(event.clone());
        }
        let _ = self.sender.send(event);
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Receives every event published from now on, for the server's own
    /// use: not counted among [`EventBus::subscribers`].
    pub fn listen(&self) -> Listener {
        self.internal
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Listener {
            receiver: self.sender.subscribe(),
            internal: self.internal.clone(),
        }
    }

    /// How many subscriptions are listening now.
    pub fn subscribers(&self) -> usize {
        self.sender
            .receiver_count()
            .saturating_sub(self.internal.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Publishes `ImportProgress` for a job state committed just now.
    pub fn import_progress(&self, job_id: Uuid, dataset_id: Uuid, counts: ImportCounts) {
        self.publish(Event::ImportProgress {
            job_id,
            dataset_id,
            counts,
            at: Utc::now(),
        });
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

/// A receiver of the server's own (see [`EventBus::listen`]).
pub struct Listener {
    receiver: broadcast::Receiver<Event>,
    internal: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl std::ops::Deref for Listener {
    type Target = broadcast::Receiver<Event>;
    fn deref(&self) -> &Self::Target {
        &self.receiver
    }
}

impl std::ops::DerefMut for Listener {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.receiver
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.internal
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
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
