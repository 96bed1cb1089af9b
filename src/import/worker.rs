//! The import workers: what an instance does with a job it claimed
//! (`queue`): work through its items.
//!
//! - **Checkpoint.** Items are read in chunks of at most [`CHUNK`]; their
//!   objects are probed [`ImportSettings::concurrency`] at a time, for at
//!   most [`CHECKPOINT_EVERY`] (the rest stays pending); then one
//!   transaction registers the files read, marks their items and adds to
//!   the job's counters — only while the job is still this instance's and
//!   RUNNING. A server killed mid-chunk loses that chunk's work only, which
//!   the next owner redoes, so counts stay exact and nothing is registered
//!   twice (and the object URL is unique per folder besides).
//! - **All or nothing.** A job that does not ignore file errors only reads
//!   its objects chunk by chunk (items become READY) and stops at the first
//!   bad one (FAILED, nothing registered); when every item is READY, one
//!   transaction registers them all.
//!
//! Written here rather than on a job-queue crate (apalis, fang, …): those
//! run a job and record its outcome in their own tables, while a checkpoint
//! must write the files, the items' states, the job's counters and its
//! ownership check in one transaction of ours.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{dataset, dataset_file, file, import_item, import_job, integration};
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use object_store::ObjectStore;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::config::ImportSettings;
use crate::error::{AppError, AppResult};
use crate::events::{DatasetChange, ImportStatus};
use crate::import::jobs;
use crate::import::jobs::{announce, refresh_statistics, ImportErrorCode, ANALYZE_AFTER};
use crate::import::probe::{probe, ProbeError, ProbeResult};
use crate::service::Services;
use crate::storage::object::StoreObject;
use entity::enums::{FileKind, ImportItemStatus, ImportJobStatus};

/// Items read from the database, probed and checkpointed together.
pub const CHUNK: u64 = 128;
/// Items registered per round of an all-or-nothing job's final transaction.
const FINAL_BATCH: u64 = 500;
/// Longest wait for one object's metadata.
pub const OBJECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a worker reads objects before it checkpoints what it has read.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Most progress events one job publishes per second (besides status changes).
const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);

/// What reading one item's objects found.
enum Outcome {
    Ready(ProbeResult),
    Failed(ImportErrorCode, String),
    Skipped,
}

/// Counter changes of one checkpoint.
#[derive(Default, Debug, Clone, Copy)]
struct Delta {
    processed: i64,
    succeeded: i64,
    failed: i64,
    skipped: i64,
}

/// One job being run by this instance.
struct Run<'a> {
    svc: &'a Services,
    settings: ImportSettings,
    worker: Uuid,
    job: import_job::Model,
    cancelled: Arc<AtomicBool>,
    last_published: Instant,
    attached_since_publish: bool,
    /// Files registered since the planner statistics were last refreshed.
    since_analyze: i64,
}

/// Whether the job goes on.
enum Step {
    Continue,
    /// Ended, cancelled, or taken over by another instance.
    Stop,
}

pub(crate) async fn run(
    svc: &Services,
    settings: ImportSettings,
    worker: Uuid,
    job: import_job::Model,
) {
    let cancelled = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(crate::import::queue::heartbeat(
        svc.clone(),
        job.id,
        worker,
        (settings.stale_after / 4).max(Duration::from_millis(50)),
        cancelled.clone(),
    ));
    announce(svc, &job);
    let mut run = Run {
        svc,
        settings,
        worker,
        job,
        cancelled,
        last_published: Instant::now(),
        attached_since_publish: false,
        since_analyze: 0,
    };
    if let Err(e) = run.process().await {
        tracing::error!(job = %run.job.id, error = ?e, "import job failed");
        let message = match &e {
            AppError::Internal(_) => "the import stopped at an internal error".to_owned(),
            other => other.public_message(),
        };
        if let Err(e) = run.finish(ImportStatus::Failed, Some(message)).await {
            tracing::error!(job = %run.job.id, error = ?e, "cannot mark the import job failed");
        }
    }
    heartbeat.abort();
}

/// An error of the probe as an item error.
fn probe_failure(error: &ProbeError) -> (ImportErrorCode, String) {
    let code = match error {
        ProbeError::Unreachable(_) => ImportErrorCode::Unreachable,
        ProbeError::Unsupported(_) => ImportErrorCode::Unsupported,
        ProbeError::Malformed(_) => ImportErrorCode::Malformed,
    };
    (code, error.to_string())
}

/// Reads the metadata of an item's objects (several for image groups,
/// image sequences and DICOM series: sizes add up, the rest is the first's).
async fn probe_item(
    store: &Arc<dyn ObjectStore>,
    integration: &integration::Model,
    item: &import_item::Model,
) -> Outcome {
    let urls: Vec<String> = item
        .parts
        .as_ref()
        .and_then(|parts| serde_json::from_value(parts.clone()).ok())
        .unwrap_or_else(|| vec![item.object_url.clone()]);
    let several = urls.len() > 1;
    // Staging writes no kind only for entries it fails at once.
    let Some(kind) = item.kind.0 else {
        return Outcome::Failed(ImportErrorCode::BadEntry, "the entry names no kind".into());
    };
    let part_kind = match kind {
        FileKind::ImageGroup | FileKind::ImageSequence => FileKind::Image,
        kind => kind,
    };
    let mut combined: Option<ProbeResult> = None;
    for url in &urls {
        let failed = |code, message: String| {
            let message = if several {
                format!("{url}: {message}")
            } else {
                message
            };
            Outcome::Failed(code, message)
        };
        let path = match crate::storage::object_path(integration, url) {
            Ok(path) => path,
            Err(e) => return failed(ImportErrorCode::BadEntry, e.public_message()),
        };
        let object = StoreObject::new(store.clone(), path);
        let found = match tokio::time::timeout(OBJECT_TIMEOUT, probe(&object, part_kind, url)).await
        {
            Err(_) => {
                return failed(
                    ImportErrorCode::Unreachable,
                    format!(
                        "object unreachable: no answer within {} s",
                        OBJECT_TIMEOUT.as_secs()
                    ),
                )
            }
            Ok(Err(e)) => {
                let (code, message) = probe_failure(&e);
                return failed(code, message);
            }
            Ok(Ok(found)) => found,
        };
        combined = Some(match combined {
            None => found,
            Some(mut first) => {
                first.size_bytes += found.size_bytes;
                first
            }
        });
    }
    combined.map_or_else(
        || {
            Outcome::Failed(
                ImportErrorCode::BadEntry,
                "the entry names no object".into(),
            )
        },
        Outcome::Ready,
    )
}

/// What becomes of one item: skipped or failed as a duplicate of a file
/// already in the folder, or what probing its objects found; `None` once the
/// run is cancelled.
async fn outcome(
    item: &import_item::Model,
    registered: &HashSet<String>,
    skip_duplicates: bool,
    cancelled: &AtomicBool,
    store: &Arc<dyn ObjectStore>,
    integration: &integration::Model,
) -> Option<Outcome> {
    if cancelled.load(Ordering::Acquire) {
        return None;
    }
    Some(if !registered.contains(&item.object_url) {
        probe_item(store, integration, item).await
    } else if skip_duplicates {
        Outcome::Skipped
    } else {
        Outcome::Failed(ImportErrorCode::Duplicate, ALREADY_REGISTERED.into())
    })
}

const ALREADY_REGISTERED: &str = "the object URL is already registered in the folder";

/// The file row an item becomes.
fn file_row(
    job: &import_job::Model,
    item: &import_item::Model,
    found: &ProbeResult,
) -> AppResult<file::ActiveModel> {
    let kind = item.kind.0.ok_or_else(|| {
        AppError::internal(format!(
            "import item {}/{} has no kind",
            item.job_id, item.seq
        ))
    })?;
    let now = Utc::now();
    Ok(file::ActiveModel {
        id: Set(Uuid::now_v7()),
        folder_id: Set(job.folder_id),
        title: Set(item.title.clone()),
        kind: Set(kind),
        object_url: Set(item.object_url.clone()),
        integration_id: Set(job.integration_id),
        size_bytes: Set(Some(found.size_bytes as i64)),
        mime_type: Set(found.mime_type.clone()),
        width: Set(found.width.map(|w| w as i32)),
        height: Set(found.height.map(|h| h as i32)),
        duration_seconds: Set(found.duration_seconds),
        frame_rate: Set(found.frame_rate),
        frame_count: Set(found.frame_count.map(|n| n as i64)),
        variable_frame_rate: Set(found.variable_frame_rate),
        client_metadata: Set(item.client_metadata.clone()),
        parts: Set(item.parts.clone()),
        created_by: Set(job.submitted_by),
        created_at: Set(now),
        updated_at: Set(now),
    })
}

/// Registers a file unless its object URL is already in the folder: its
/// id, or `None` for a duplicate.
async fn insert_file<C: ConnectionTrait>(
    db: &C,
    row: file::ActiveModel,
) -> AppResult<Option<Uuid>> {
    let id = row.id.clone().unwrap();
    let inserted = file::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([file::Column::FolderId, file::Column::ObjectUrl])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok((inserted == 1).then_some(id))
}

/// Sets the status of the items `seqs` of a job.
async fn mark<C: ConnectionTrait>(
    db: &C,
    job_id: Uuid,
    seqs: &[i64],
    status: ImportItemStatus,
) -> AppResult<()> {
    for seqs in seqs.chunks(500) {
        import_item::Entity::update_many()
            .col_expr(import_item::Column::Status, status.to_owned().into())
            .col_expr(
                import_item::Column::Probe,
                Option::<serde_json::Value>::None.into(),
            )
            .filter(import_item::Column::JobId.eq(job_id))
            .filter(import_item::Column::Seq.is_in(seqs.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Marks one item failed.
async fn mark_failed<C: ConnectionTrait>(
    db: &C,
    item: &import_item::Model,
    code: ImportErrorCode,
    message: &str,
) -> AppResult<()> {
    import_item::Entity::update_many()
        .col_expr(import_item::Column::Status, ImportItemStatus::Failed.into())
        .col_expr(
            import_item::Column::ErrorCode,
            code.as_str().to_owned().into(),
        )
        .col_expr(import_item::Column::ErrorMessage, message.to_owned().into())
        .filter(import_item::Column::JobId.eq(item.job_id))
        .filter(import_item::Column::Seq.eq(item.seq))
        .exec(db)
        .await?;
    Ok(())
}

/// Attaches registered files to a dataset that does not mirror the folder.
async fn attach<C: ConnectionTrait>(db: &C, dataset_id: Uuid, files: &[Uuid]) -> AppResult<()> {
    let now = Utc::now();
    for ids in files.chunks(500) {
        dataset_file::Entity::insert_many(ids.iter().map(|file_id| dataset_file::ActiveModel {
            dataset_id: Set(dataset_id),
            file_id: Set(*file_id),
            created_at: Set(now),
        }))
        .on_conflict_do_nothing()
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// "entry 3" or "line 5" for messages about an item.
fn item_place(item: &import_item::Model) -> String {
    match item.line {
        Some(line) => format!("line {line}"),
        None => format!("entry {}", item.seq),
    }
}

impl Run<'_> {
    async fn process(&mut self) -> AppResult<()> {
        let Some(integration) = (match self.job.integration_id {
            Some(id) => {
                integration::Entity::find_by_id(id)
                    .one(&self.svc.db)
                    .await?
            }
            None => None,
        }) else {
            return self
                .finish(
                    ImportStatus::Failed,
                    Some("the storage integration was deleted".into()),
                )
                .await;
        };
        let store = match crate::storage::open(&self.svc.storage, &integration) {
            Ok(store) => store,
            Err(e) => {
                return self
                    .finish(ImportStatus::Failed, Some(e.public_message()))
                    .await
            }
        };
        let Some(dataset) = dataset::Entity::find_by_id(self.job.dataset_id)
            .one(&self.svc.db)
            .await?
        else {
            return Ok(()); // deleted: the job went with it
        };
        let attach_to = (dataset.folder_id != Some(self.job.folder_id)).then_some(dataset.id);
        loop {
            match self.chunk(&store, &integration, attach_to).await? {
                Step::Continue => continue,
                Step::Stop => return Ok(()),
            }
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Probes and checkpoints the next chunk of pending items.
    async fn chunk(
        &mut self,
        store: &Arc<dyn ObjectStore>,
        integration: &integration::Model,
        attach_to: Option<Uuid>,
    ) -> AppResult<Step> {
        if self.is_cancelled() || self.stopped_for_lost_right().await? {
            return Ok(Step::Stop);
        }
        let db = &self.svc.db;
        let job = &self.job;
        let items = import_item::Entity::find()
            .filter(import_item::Column::JobId.eq(job.id))
            .filter(import_item::Column::Status.eq(ImportItemStatus::Pending))
            .order_by_asc(import_item::Column::Seq)
            .limit(CHUNK)
            .all(db)
            .await?;
        if items.is_empty() {
            return self.complete(attach_to).await;
        }
        if self.since_analyze >= ANALYZE_AFTER {
            self.since_analyze = 0;
            refresh_statistics(self.svc, "files").await;
            refresh_statistics(self.svc, "import_items").await;
        }
        let registered: HashSet<String> = file::Entity::find()
            .select_only()
            .column(file::Column::ObjectUrl)
            .filter(file::Column::FolderId.eq(job.folder_id))
            .filter(file::Column::ObjectUrl.is_in(items.iter().map(|i| i.object_url.clone())))
            .into_tuple()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let skip_duplicates = job.skip_duplicate_urls;
        let cancelled = &self.cancelled;
        // Collected first: a lazy `map` here would keep a closure in this
        // future that the compiler cannot prove `Send` for every lifetime.
        let pending: Vec<_> = items
            .iter()
            .map(|item| {
                outcome(
                    item,
                    &registered,
                    skip_duplicates,
                    cancelled,
                    store,
                    integration,
                )
            })
            .collect();
        // Checkpoint what is read after about CHECKPOINT_EVERY, so that
        // slow storage still shows progress: no read starts after it (those
        // started finish, so no object is read twice); the rest stays pending.
        let deadline = Instant::now() + CHECKPOINT_EVERY;
        let mut waiting = pending.into_iter();
        let mut reading: FuturesOrdered<_> =
            waiting.by_ref().take(self.settings.concurrency).collect();
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(items.len());
        while let Some(outcome) = reading.next().await {
            outcomes.push(outcome);
            if Instant::now() < deadline {
                if let Some(next) = waiting.next() {
                    reading.push_back(next);
                }
            }
        }
        drop((reading, waiting));
        if self.is_cancelled() {
            return Ok(Step::Stop);
        }

        let txn = crate::service::tx::write(db).await?;
        // Asked again before anything read is registered: a right lost while
        // the objects were read stops the job before this chunk goes in.
        if let Some(why) = jobs::lost_right(&txn, &self.svc.policy, job).await? {
            drop(txn);
            self.stop_for(why).await?;
            return Ok(Step::Stop);
        }
        let mut delta = Delta::default();
        let (mut done, mut skipped, mut files) = (Vec::new(), Vec::new(), Vec::new());
        let mut first_failure: Option<String> = None;
        // `zip` stops at the last outcome read: later items stay pending.
        for (item, outcome) in items.iter().zip(outcomes) {
            let Some(outcome) = outcome else {
                return Ok(Step::Stop);
            };
            delta.processed += 1;
            let mut fail = |code: ImportErrorCode, message: String| {
                delta.failed += 1;
                first_failure.get_or_insert_with(|| format!("{}: {message}", item_place(item)));
                (code, message)
            };
            match outcome {
                Outcome::Skipped => {
                    delta.skipped += 1;
                    skipped.push(item.seq);
                }
                Outcome::Failed(code, message) => {
                    let (code, message) = fail(code, message);
                    mark_failed(&txn, item, code, &message).await?;
                }
                Outcome::Ready(found) if job.ignore_file_errors => {
                    match insert_file(&txn, file_row(job, item, &found)?).await? {
                        Some(id) => {
                            delta.succeeded += 1;
                            done.push(item.seq);
                            files.push(id);
                        }
                        None if skip_duplicates => {
                            delta.skipped += 1;
                            skipped.push(item.seq);
                        }
                        None => {
                            let (code, message) =
                                fail(ImportErrorCode::Duplicate, ALREADY_REGISTERED.into());
                            mark_failed(&txn, item, code, &message).await?;
                        }
                    }
                }
                Outcome::Ready(found) => {
                    delta.succeeded += 1;
                    import_item::Entity::update_many()
                        .col_expr(import_item::Column::Status, ImportItemStatus::Ready.into())
                        .col_expr(
                            import_item::Column::Probe,
                            serde_json::to_value(&found)
                                .map_err(|e| AppError::Internal(e.to_string()))?
                                .into(),
                        )
                        .filter(import_item::Column::JobId.eq(item.job_id))
                        .filter(import_item::Column::Seq.eq(item.seq))
                        .exec(&txn)
                        .await?;
                }
            }
        }
        mark(&txn, job.id, &done, ImportItemStatus::Done).await?;
        mark(&txn, job.id, &skipped, ImportItemStatus::Skipped).await?;
        if let Some(dataset_id) = attach_to {
            attach(&txn, dataset_id, &files).await?;
        }
        let strict_failure = (!job.ignore_file_errors).then_some(first_failure).flatten();
        let ending = strict_failure.map(|message| (ImportStatus::Failed, Some(message)));
        if !self.checkpoint(&txn, delta, ending.clone()).await? {
            return Ok(Step::Stop); // rolled back on drop
        }
        txn.commit().await?;
        self.record(delta, !files.is_empty());
        self.publish(ending.is_some()).await?;
        Ok(if ending.is_some() {
            Step::Stop
        } else {
            Step::Continue
        })
    }

    /// Every item is processed: an all-or-nothing job now registers its
    /// READY items; then the job SUCCEEDS.
    async fn complete(&mut self, attach_to: Option<Uuid>) -> AppResult<Step> {
        let txn = crate::service::tx::write(&self.svc.db).await?;
        if let Some(why) = jobs::lost_right(&txn, &self.svc.policy, &self.job).await? {
            drop(txn);
            self.stop_for(why).await?;
            return Ok(Step::Stop);
        }
        let mut delta = Delta::default();
        if !self.checkpoint(&txn, delta, None).await? {
            return Ok(Step::Stop);
        }
        let job = &self.job;
        let mut registered = false;
        if !job.ignore_file_errors {
            let mut after = -1i64;
            loop {
                let items = import_item::Entity::find()
                    .filter(import_item::Column::JobId.eq(job.id))
                    .filter(import_item::Column::Status.eq(ImportItemStatus::Ready))
                    .filter(import_item::Column::Seq.gt(after))
                    .order_by_asc(import_item::Column::Seq)
                    .limit(FINAL_BATCH)
                    .all(&txn)
                    .await?;
                let Some(last) = items.last() else { break };
                after = last.seq;
                let (mut done, mut skipped, mut files) = (Vec::new(), Vec::new(), Vec::new());
                for item in &items {
                    let found: ProbeResult = item
                        .probe
                        .clone()
                        .and_then(|p| serde_json::from_value(p).ok())
                        .unwrap_or_default();
                    match insert_file(&txn, file_row(job, item, &found)?).await? {
                        Some(id) => {
                            done.push(item.seq);
                            files.push(id);
                        }
                        None if job.skip_duplicate_urls => {
                            delta.succeeded -= 1;
                            delta.skipped += 1;
                            skipped.push(item.seq);
                        }
                        None => {
                            drop(txn);
                            let message = format!("{}: {ALREADY_REGISTERED}", item_place(item));
                            self.finish(ImportStatus::Failed, Some(message)).await?;
                            return Ok(Step::Stop);
                        }
                    }
                }
                mark(&txn, job.id, &done, ImportItemStatus::Done).await?;
                mark(&txn, job.id, &skipped, ImportItemStatus::Skipped).await?;
                if let Some(dataset_id) = attach_to {
                    attach(&txn, dataset_id, &files).await?;
                }
                registered |= !files.is_empty();
            }
        }
        if !self
            .checkpoint(&txn, delta, Some((ImportStatus::Succeeded, None)))
            .await?
        {
            return Ok(Step::Stop);
        }
        txn.commit().await?;
        self.record(delta, registered);
        self.publish(true).await?;
        Ok(Step::Stop)
    }

    /// Adds `delta` to the job's counters (and ends it with `ending`), if it
    /// is still this instance's running job; `false` otherwise.
    async fn checkpoint<C: ConnectionTrait>(
        &self,
        db: &C,
        delta: Delta,
        ending: Option<(ImportStatus, Option<String>)>,
    ) -> AppResult<bool> {
        let now = Utc::now();
        let add = |column: import_job::Column, by: i64| Expr::col(column).add(by);
        let mut update = import_job::Entity::update_many()
            .col_expr(
                import_job::Column::Processed,
                add(import_job::Column::Processed, delta.processed),
            )
            .col_expr(
                import_job::Column::Succeeded,
                add(import_job::Column::Succeeded, delta.succeeded),
            )
            .col_expr(
                import_job::Column::Failed,
                add(import_job::Column::Failed, delta.failed),
            )
            .col_expr(
                import_job::Column::Skipped,
                add(import_job::Column::Skipped, delta.skipped),
            )
            .col_expr(import_job::Column::HeartbeatAt, now.into())
            .col_expr(import_job::Column::UpdatedAt, now.into());
        if let Some((status, message)) = ending {
            update = update
                .col_expr(
                    import_job::Column::Status,
                    ImportJobStatus::from(status).into(),
                )
                .col_expr(import_job::Column::Message, message.into())
                .col_expr(import_job::Column::FinishedAt, now.into());
        }
        let updated = update
            .filter(import_job::Column::Id.eq(self.job.id))
            .filter(import_job::Column::Worker.eq(self.worker))
            .filter(import_job::Column::Status.eq(ImportJobStatus::Running))
            .exec(db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Ends the job FAILED, keeping what it registered, when its submitter
    /// may no longer add data to the dataset, add files to the folder or use
    /// the integration; true then.
    async fn stopped_for_lost_right(&mut self) -> AppResult<bool> {
        match jobs::lost_right(&self.svc.db, &self.svc.policy, &self.job).await? {
            Some(why) => {
                self.stop_for(why).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Ends the job FAILED because its submitter lost a right (`why`).
    async fn stop_for(&mut self, why: String) -> AppResult<()> {
        tracing::info!(job = %self.job.id, reason = %why, "import job stopped: a right was lost");
        self.finish(ImportStatus::Failed, Some(format!("import stopped: {why}")))
            .await
    }

    /// Ends the job outside a checkpoint (a failure of the job as a whole).
    async fn finish(&mut self, status: ImportStatus, message: Option<String>) -> AppResult<()> {
        if self
            .checkpoint(&self.svc.db, Delta::default(), Some((status, message)))
            .await?
        {
            self.publish(true).await?;
        }
        Ok(())
    }

    /// Counts the entries of a checkpoint in the metrics; `registered`: files
    /// were added to the dataset (subscribers hear of it with the progress).
    fn record(&mut self, delta: Delta, registered: bool) {
        let metrics = &self.svc.metrics;
        if self.job.ignore_file_errors {
            metrics.record_imports("registered", count(delta.succeeded));
        }
        metrics.record_imports("failed", count(delta.failed));
        metrics.record_imports("skipped", count(delta.skipped));
        self.attached_since_publish |= registered;
        self.since_analyze += delta.processed;
    }

    /// Tells subscribers where the job is: always when `force`, otherwise
    /// at most every [`PUBLISH_INTERVAL`].
    async fn publish(&mut self, force: bool) -> AppResult<()> {
        if !force && self.last_published.elapsed() < PUBLISH_INTERVAL {
            return Ok(());
        }
        self.last_published = Instant::now();
        if let Some(job) = import_job::Entity::find_by_id(self.job.id)
            .one(&self.svc.db)
            .await?
        {
            announce(self.svc, &job);
            if std::mem::take(&mut self.attached_since_publish) {
                self.svc
                    .events
                    .dataset_changed(job.dataset_id, DatasetChange::FilesAttached);
            }
            self.job = job;
        }
        Ok(())
    }
}
