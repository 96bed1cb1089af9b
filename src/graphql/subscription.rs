//! Subscriptions, served over WebSocket on `/graphql/ws` (see `http::ws`):
//! `datasetChanged` and `importProgress`.
//!
//! A subscription checks access when it starts (UNAUTHENTICATED without a
//! token, NOT_FOUND for a resource the caller cannot see, as queries do) and
//! again for every event: once the caller can no longer see the resource the
//! stream ends, so access lost is never outlived. Events resolve their
//! fields with the loaders of the subscribe request (`RequestScope`),
//! which know the caller.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Context, MergedSubscription, Object, Result, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::dataset::Dataset;
use super::import::ImportJob;
use super::{global_id, parse_id, scope};
use crate::auth::Caller;
use crate::error::AppError;
use crate::events::{DatasetChange, Event, ImportCounts};
use crate::import::jobs;
use crate::service::{datasets, Services};
use entity::import_job;

use crate::ids::Id;

/// Subscriptions: served over WebSocket on `/graphql/ws`.
#[derive(MergedSubscription, Default)]
pub struct Subscription(DatasetSubscription, ImportSubscription);

/// A change to a dataset, as `datasetChanged` delivers it.
pub struct DatasetChangeEvent {
    dataset_id: Uuid,
    change: DatasetChange,
    at: DateTime<Utc>,
    dataset: Option<Dataset>,
}

/// A change to a dataset, as `datasetChanged` delivers it.
#[Object]
impl DatasetChangeEvent {
    /// The dataset as it is when the event is delivered; null once deleted.
    async fn dataset(&self) -> Option<&Dataset> {
        self.dataset.as_ref()
    }
    /// The dataset's global ID (also after it was deleted).
    async fn dataset_id(&self) -> ID {
        global_id::<entity::dataset::Entity>(self.dataset_id)
    }
    /// What changed.
    async fn change(&self) -> DatasetChange {
        self.change
    }
    /// When the change was committed.
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

#[derive(Default)]
pub struct DatasetSubscription;

#[Subscription]
impl DatasetSubscription {
    /// Every change to a dataset the caller can view: files attached,
    /// detached or moved, settings, collaborators, deletion. The stream ends
    /// after `DELETED`, or as soon as the caller can no longer view the
    /// dataset.
    async fn dataset_changed(
        &self,
        ctx: &Context<'_>,
        dataset_id: ID,
    ) -> Result<impl Stream<Item = Result<DatasetChangeEvent>>> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&dataset_id, "datasetId")?;
        // Listen before checking, so that nothing committed in between is missed.
        let events = svc.events.subscribe();
        datasets::get(svc, caller, id).await?;
        let watch = Watch {
            events,
            svc: svc.clone(),
            caller: caller.clone(),
            id: id.uuid(),
        };
        Ok(stream::unfold(Some(watch), |watch| async move {
            let (item, watch) = watch?.next().await?;
            Some((item, watch))
        }))
    }
}

/// Shortest time between two `importProgress` answers.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);
/// Without events, `importProgress` reads the job again after this long (an
/// event between instances may be lost).
pub const PROGRESS_QUIET: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct ImportSubscription;

#[Subscription]
impl ImportSubscription {
    /// An import job as it progresses: its state at once, then after each
    /// change (coalesced: at most five a second), ending after SUCCEEDED,
    /// FAILED or CANCELLED. Only callers who can view the job's dataset may
    /// subscribe, and the stream ends when they no longer can.
    async fn import_progress(
        &self,
        ctx: &Context<'_>,
        job_id: ID,
    ) -> Result<impl Stream<Item = Result<ImportJob>>> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&job_id, "jobId")?;
        // Listen before reading, so that nothing committed in between is missed.
        let events = svc.events.subscribe();
        let job = jobs::get(svc, caller, id).await?;
        let follow = Follow {
            events,
            svc: svc.clone(),
            caller: caller.clone(),
            id: id.uuid(),
            next: Some(job),
            sent: None,
            sent_at: None,
        };
        Ok(stream::unfold(Some(follow), |follow| async move {
            let (item, follow) = follow?.next().await?;
            Some((item, follow))
        }))
    }
}

/// One `importProgress` subscription.
struct Follow {
    events: broadcast::Receiver<Event>,
    svc: Services,
    caller: Caller,
    id: Uuid,
    /// The job as last read, not yet compared with what was sent.
    next: Option<import_job::Model>,
    sent: Option<ImportCounts>,
    sent_at: Option<Instant>,
}

impl Follow {
    /// The next state to send and what remains of the subscription (`None`
    /// after a terminal state); `None` when it ends now.
    async fn next(mut self) -> Option<(Result<ImportJob>, Option<Follow>)> {
        loop {
            if let Some(job) = self.next.take() {
                let counts = jobs::counts_of(&job);
                if self.sent != Some(counts) {
                    self.sent = Some(counts);
                    self.sent_at = Some(Instant::now());
                    let rest = (!counts.status.is_terminal()).then_some(self);
                    return Some((Ok(ImportJob(job)), rest));
                }
            }
            if !self.changed().await {
                return None;
            }
            if let Some(at) = self.sent_at {
                tokio::time::sleep(PROGRESS_INTERVAL.saturating_sub(at.elapsed())).await;
            }
            // Everything heard meanwhile is covered by the read below.
            while matches!(
                self.events.try_recv(),
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_))
            ) {}
            match jobs::get(&self.svc, &self.caller, Id::new(self.id)).await {
                Ok(job) => self.next = Some(job),
                // Deleted with its dataset, or access lost: the end.
                Err(AppError::NotFound(_)) => return None,
                Err(e) => return Some((Err(e.into()), Some(self))),
            }
        }
    }

    /// Waits for news of the job (or a quiet period); false when the bus closed.
    async fn changed(&mut self) -> bool {
        let quiet = tokio::time::sleep(PROGRESS_QUIET);
        tokio::pin!(quiet);
        loop {
            tokio::select! {
                _ = &mut quiet => return true,
                event = self.events.recv() => match event {
                    Ok(Event::ImportProgress { job_id, .. }) if job_id == self.id => return true,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => return true,
                    Err(RecvError::Closed) => return false,
                },
            }
        }
    }
}

/// One `datasetChanged` subscription.
struct Watch {
    events: broadcast::Receiver<Event>,
    svc: Services,
    caller: Caller,
    id: Uuid,
}

impl Watch {
    /// The next event for the subscriber and what remains of the
    /// subscription (`None` after the last event); `None` when it ends now.
    async fn next(mut self) -> Option<(Result<DatasetChangeEvent>, Option<Watch>)> {
        loop {
            let (change, at) = match self.events.recv().await {
                Ok(Event::DatasetChanged {
                    dataset_id,
                    change,
                    at,
                }) if dataset_id == self.id => (change, at),
                Ok(_) => continue,
                Err(RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "a subscriber fell behind and skipped events");
                    continue;
                }
                Err(RecvError::Closed) => return None,
            };
            let event = |dataset| DatasetChangeEvent {
                dataset_id: self.id,
                change,
                at,
                dataset,
            };
            if change == DatasetChange::Deleted {
                return Some((Ok(event(None)), None));
            }
            match Dataset::load(&self.svc, &self.caller, Id::new(self.id)).await {
                Ok(dataset) => return Some((Ok(event(Some(dataset))), Some(self))),
                Err(AppError::NotFound(_)) => {
                    // Deleted meanwhile (DELETED follows), or access lost (the end).
                    match crate::service::grants::by_id::<entity::dataset::Entity>(
                        &self.svc, self.id, "dataset",
                    )
                    .await
                    {
                        Err(AppError::NotFound(_)) => continue,
                        _ => return None,
                    }
                }
                Err(e) => return Some((Err(e.into()), Some(self))),
            }
        }
    }
}

/// Marks, in a request's data, whether execution began: a subscription
/// whose first response comes before that failed at subscribe time (the
/// document did not validate, or the source stream could not be created),
/// which GraphQL over WebSocket answers with `error` rather than `next`.
#[derive(Clone, Default)]
pub struct ExecutionStarted(Arc<AtomicBool>);

impl ExecutionStarted {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Execution begins (see `loaders::RequestScope`).
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }
}
