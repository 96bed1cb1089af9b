//! Import jobs: a manifest of objects in users' storage, registered into a
//! dataset by the import workers (`crate::import::worker`).
//!
//! Submitting reads the whole manifest as a stream and stages one item per
//! entry in the same transaction as the job, so that a malformed manifest is
//! refused at once (BAD_USER_INPUT naming the line or entry) and the job,
//! once it exists, has everything it needs to run on any instance. Entries
//! that are bad on their own (no URL, a URL outside the integration, …)
//! refuse the whole manifest, unless the job ignores file errors: then they
//! are staged as failed items. A URL listed twice is skipped (the first
//! one counts) or, without `skipDuplicateUrls`, is an error like the others.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use chrono::Utc;
use entity::{dataset, folder, import_item, import_job, integration};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;
use tokio::io::AsyncRead;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::events::{ImportCounts, ImportStatus};
use crate::ids::Id;
use crate::import::manifest::{ManifestEntry, ManifestFormat, ManifestLimits, ManifestParser};
use crate::policy::{Action, Kind, Policy};
use crate::service::access::{self, visible_datasets};
use crate::service::page::{paginate, Page, PageArgs};
use crate::service::{datasets, folders, integrations, Services};
use entity::enums::{EntryKind, ImportItemStatus, ImportJobStatus};

/// Rows written after which PostgreSQL's planner statistics of a table are
/// refreshed (`ANALYZE`), so that lookups of a batch by key keep using the
/// indexes while an import grows the table faster than autovacuum looks.
pub const ANALYZE_AFTER: i64 = 10_000;

/// `ANALYZE table` (on SQLite from a bounded sample, so that it stays quick
/// on a large file); a failure (say, a role that does not own the table)
/// only costs speed.
pub async fn refresh_statistics(svc: &Services, table: &str) {
    let sql = match svc.db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => format!("PRAGMA analysis_limit = 1000; ANALYZE {table}"),
        _ => format!("ANALYZE {table}"),
    };
    if let Err(e) = svc.db.execute_unprepared(&sql).await {
        tracing::debug!(table, error = %e, "cannot refresh planner statistics");
    }
}

/// Items staged per INSERT statement.
const STAGE_BATCH: usize = 500;

/// Why an entry of a job was not registered.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ImportErrorCode {
    /// The entry itself is invalid (no or a malformed URL, an unknown kind,
    /// metadata that is not an object, a URL outside the integration).
    BadEntry,
    /// Its object URL is already registered in the folder or listed before
    /// in the manifest, and the job does not skip duplicates.
    Duplicate,
    /// The object could not be read from storage.
    Unreachable,
    /// The object is not the kind of data the entry says, or in a format
    /// that is not supported.
    Unsupported,
    /// The object claims a format but is broken or truncated.
    Malformed,
}

impl ImportErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportErrorCode::BadEntry => "BAD_ENTRY",
            ImportErrorCode::Duplicate => "DUPLICATE",
            ImportErrorCode::Unreachable => "UNREACHABLE",
            ImportErrorCode::Unsupported => "UNSUPPORTED",
            ImportErrorCode::Malformed => "MALFORMED",
        }
    }

    pub fn parse(name: &str) -> ImportErrorCode {
        match name {
            "DUPLICATE" => ImportErrorCode::Duplicate,
            "UNREACHABLE" => ImportErrorCode::Unreachable,
            "UNSUPPORTED" => ImportErrorCode::Unsupported,
            "MALFORMED" => ImportErrorCode::Malformed,
            _ => ImportErrorCode::BadEntry,
        }
    }
}

/// An import to submit; the manifest comes beside it.
#[derive(Debug, Clone)]
pub struct NewImport {
    pub dataset_id: Id<dataset::Entity>,
    /// Where the files go; by default the dataset's own folder.
    pub folder_id: Option<Id<folder::Entity>>,
    pub integration_id: Id<integration::Entity>,
    pub format: ManifestFormat,
    pub ignore_file_errors: bool,
    /// By default the manifest's `skip_duplicate_urls`, else true.
    pub skip_duplicate_urls: Option<bool>,
}

/// The status of a job row.
pub fn status_of(job: &import_job::Model) -> ImportStatus {
    job.status.into()
}

/// The counters of a job row.
pub fn counts_of(job: &import_job::Model) -> ImportCounts {
    ImportCounts {
        status: status_of(job),
        total: job.total,
        processed: job.processed,
        succeeded: job.succeeded,
        failed: job.failed,
        skipped: job.skipped,
    }
}

/// Why the submitter of a running job may no longer go on with it, if they
/// may not: it needs, as at submission, add-data on the dataset, add-files
/// on the folder and use of the integration — read now, in one statement
/// (two when the integration is used through the submitter's workspace role).
pub async fn lost_right<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    job: &import_job::Model,
) -> AppResult<Option<String>> {
    let Some(user) = job.submitted_by else {
        return Ok(Some("the submitter's account no longer exists".into()));
    };
    let Some(integration) = job.integration_id else {
        return Ok(Some("the storage integration was deleted".into()));
    };
    let dataset = (Kind::Dataset, job.dataset_id);
    let folder = (Kind::Folder, job.folder_id);
    let integration = (Kind::Integration, integration);
    let roles = access::roles_on_each(db, policy, &[dataset, folder, integration], user).await?;
    let may = |key, action| {
        roles
            .get(&key)
            .is_some_and(|r| policy.any_allows(key.0, r, action))
    };
    let lost = |what: &str| Ok(Some(format!("the submitter may no longer {what}")));
    if !may(dataset, Action::AddData) {
        return lost(Action::AddData.describe());
    }
    if !may(folder, Action::AddFiles) {
        return lost(Action::AddFiles.describe());
    }
    if !may(integration, Action::Use)
        && !access::manages_all(db, policy, Kind::Integration, user).await?
    {
        return lost("use this storage integration");
    }
    Ok(None)
}

/// Tells every subscriber (and every instance's workers) where the job is.
pub fn announce(svc: &Services, job: &import_job::Model) {
    svc.events
        .import_progress(job.id, job.dataset_id, counts_of(job));
}

/// The folder an import of `dataset` writes into.
fn target_folder(dataset: &entity::dataset::Model, given: Option<Uuid>) -> AppResult<Uuid> {
    match (dataset.folder_id, given) {
        (Some(own), None) => Ok(own),
        (Some(own), Some(folder)) if own == folder => Ok(own),
        (Some(_), Some(_)) => Err(AppError::bad_input(
            "this dataset shows the files of its own folder: leave folderId out (or give that folder)",
        )),
        (None, Some(folder)) => Ok(folder),
        (None, None) => Err(AppError::bad_input(
            "folderId is required: this dataset has no folder of its own, so name the folder the files are registered in",
        )),
    }
}

/// A manifest problem as the mutation reports it.
fn manifest_error(e: impl std::fmt::Display) -> AppError {
    AppError::bad_input(format!("manifest: {e}"))
}

/// Where an entry is, for messages: `line 7` (CSV) or `entry 3` (JSON).
fn entry_place(entry: &ManifestEntry) -> String {
    match entry.line {
        Some(line) => format!("line {line}"),
        None => format!("entry {}", entry.index),
    }
}

fn url_key(url: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    url.hash(&mut hasher);
    hasher.finish()
}

/// Submits an import: checks the caller may add data to the dataset, add
/// files to the folder and use the integration, reads and stages the whole
/// manifest, and queues the job. Needs dataset add-data, folder add-files
/// and integration use.
#[tracing::instrument(skip(svc, caller, manifest), fields(dataset = %request.dataset_id.uuid()))]
pub async fn submit<R: AsyncRead + Unpin + Send>(
    svc: &Services,
    caller: &Caller,
    request: NewImport,
    manifest: R,
    limits: ManifestLimits,
) -> AppResult<import_job::Model> {
    let (dataset, _) =
        datasets::get_for(svc, caller, request.dataset_id.uuid(), Action::AddData).await?;
    let folder_id = target_folder(&dataset, request.folder_id.map(Id::uuid))?;
    folders::get_for(svc, caller, folder_id, Action::AddFiles).await?;
    let (integration, _) =
        integrations::get_for(svc, caller, request.integration_id.uuid(), Action::Use).await?;
    crate::storage::open(&svc.storage, &integration)?;

    let now = Utc::now();
    let job_id = Uuid::now_v7();
    // The whole manifest is read and checked before the write lock is taken:
    // on SQLite other writers wait while it is held, so it is held only for
    // the inserts.
    let mut job = import_job::ActiveModel {
        id: Set(job_id),
        dataset_id: Set(dataset.id),
        folder_id: Set(folder_id),
        integration_id: Set(Some(integration.id)),
        submitted_by: Set(Some(caller.id)),
        status: Set(ImportJobStatus::Queued),
        format: Set(match request.format {
            ManifestFormat::Json => "JSON",
            ManifestFormat::Csv => "CSV",
        }
        .to_owned()),
        ignore_file_errors: Set(request.ignore_file_errors),
        skip_duplicate_urls: Set(request.skip_duplicate_urls.unwrap_or(true)),
        total: Set(0),
        processed: Set(0),
        succeeded: Set(0),
        failed: Set(0),
        skipped: Set(0),
        message: Set(None),
        worker: Set(None),
        heartbeat_at: Set(None),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        updated_at: Set(now),
    };

    let mut parser = ManifestParser::new(manifest, request.format, limits);
    let mut rows: Vec<import_item::ActiveModel> = Vec::new();
    // The first object URL of each row, to tell real repeats from hash clashes.
    let mut urls: Vec<String> = Vec::new();
    // First entry of each URL (by hash), and the later ones naming it again.
    let mut first_seen: HashMap<u64, i64> = HashMap::new();
    let mut repeats: Vec<(i64, i64, String)> = Vec::new();
    let (mut total, mut failed) = (0i64, 0i64);
    while let Some(item) = parser.next().await {
        let seq = total;
        let row = match item {
            Ok(entry) => {
                let foreign = entry
                    .object_urls
                    .iter()
                    .find_map(|url| crate::storage::object_path(&integration, url).err());
                if let Some(e) = foreign {
                    let message = e.public_message();
                    if !request.ignore_file_errors {
                        return Err(manifest_error(format_args!(
                            "{}: {message}",
                            entry_place(&entry)
                        )));
                    }
                    failed += 1;
                    staged(job_id, seq, &entry, ImportItemStatus::Failed)
                        .failing(ImportErrorCode::BadEntry, &message)
                } else {
                    let key = url_key(&entry.object_urls[0]);
                    if let Some(&first) = first_seen.get(&key) {
                        repeats.push((seq, first, entry_place(&entry)));
                    } else {
                        first_seen.insert(key, seq);
                    }
                    staged(job_id, seq, &entry, ImportItemStatus::Pending)
                }
            }
            Err(e) if e.fatal || !request.ignore_file_errors => return Err(manifest_error(e)),
            Err(e) => {
                failed += 1;
                import_item::ActiveModel {
                    job_id: Set(job_id),
                    seq: Set(seq),
                    line: Set(e.line.map(|l| l as i64)),
                    status: Set(ImportItemStatus::Failed),
                    kind: Set(EntryKind(None)),
                    title: Set(String::new()),
                    object_url: Set(String::new()),
                    parts: Set(None),
                    client_metadata: Set(None),
                    probe: Set(None),
                    error_code: Set(Some(ImportErrorCode::BadEntry.as_str().to_owned())),
                    error_message: Set(Some(e.to_string())),
                }
            }
        };
        total += 1;
        urls.push(match &row.object_url {
            sea_orm::ActiveValue::Set(url) => url.clone(),
            _ => String::new(),
        });
        rows.push(row);
    }
    if total == 0 {
        return Err(manifest_error("it lists no entries"));
    }
    let skip_duplicates = request
        .skip_duplicate_urls
        .or(parser.skip_duplicate_urls())
        .unwrap_or(true);
    // The hash may join two different URLs: only real repeats count.
    let mut skipped = 0i64;
    for (seq, first, place) in repeats {
        let (seq_at, first_at) = (seq as usize, first as usize);
        if urls[seq_at] != urls[first_at] {
            continue;
        }
        let repeat = &mut rows[seq_at];
        if skip_duplicates {
            skipped += 1;
            repeat.status = Set(ImportItemStatus::Skipped);
        } else if request.ignore_file_errors {
            failed += 1;
            repeat.status = Set(ImportItemStatus::Failed);
            repeat.error_code = Set(Some(ImportErrorCode::Duplicate.as_str().to_owned()));
            repeat.error_message = Set(Some(format!(
                "the object URL is listed before, as entry {first}"
            )));
        } else {
            return Err(manifest_error(format_args!(
                "{place}: objectUrl {:?} is listed twice (first as entry {first})",
                urls[seq_at]
            )));
        }
    }
    drop(urls);
    job.total = Set(total);
    job.failed = Set(failed);
    job.skipped = Set(skipped);
    job.processed = Set(failed + skipped);
    job.skip_duplicate_urls = Set(skip_duplicates);
    let txn = crate::service::tx::write(&svc.db).await?;
    let job = job.insert(&txn).await?;
    let mut rows = rows.into_iter();
    loop {
        let batch: Vec<import_item::ActiveModel> = rows.by_ref().take(STAGE_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        import_item::Entity::insert_many(batch)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    // A large manifest changes the table's shape: let the planner know
    // before the workers query it by the thousand.
    if total >= ANALYZE_AFTER {
        refresh_statistics(svc, "import_items").await;
    }
    svc.metrics.record_imports("failed", failed as u64);
    svc.metrics.record_imports("skipped", skipped as u64);
    announce(svc, &job);
    Ok(job)
}

/// An item row for a good entry.
fn staged(
    job_id: Uuid,
    seq: i64,
    entry: &ManifestEntry,
    status: ImportItemStatus,
) -> import_item::ActiveModel {
    import_item::ActiveModel {
        job_id: Set(job_id),
        seq: Set(seq),
        line: Set(entry.line.map(|l| l as i64)),
        status: Set(status),
        kind: Set(entry.kind.into()),
        title: Set(entry.title.clone()),
        object_url: Set(entry.object_urls[0].clone()),
        parts: Set((entry.object_urls.len() > 1).then(|| json!(entry.object_urls))),
        client_metadata: Set(entry.client_metadata.clone()),
        probe: Set(None),
        error_code: Set(None),
        error_message: Set(None),
    }
}

trait Failing {
    fn failing(self, code: ImportErrorCode, message: &str) -> Self;
}

impl Failing for import_item::ActiveModel {
    fn failing(mut self, code: ImportErrorCode, message: &str) -> Self {
        self.error_code = Set(Some(code.as_str().to_owned()));
        self.error_message = Set(Some(message.to_owned()));
        self
    }
}

/// The job, if the caller may view its dataset.
pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: Id<import_job::Entity>,
) -> AppResult<import_job::Model> {
    let id = id.uuid();
    import_job::Entity::find_by_id(id)
        .inner_join(entity::dataset::Entity)
        .filter(visible_datasets(svc, caller.id))
        .one(&svc.db)
        .await?
        .ok_or_else(|| AppError::not_found("import job"))
}

/// The jobs of a dataset the caller may view, oldest first (or as ordered).
pub async fn list(
    svc: &Services,
    caller: &Caller,
    dataset_id: Id<dataset::Entity>,
    status: Option<ImportStatus>,
    page: PageArgs,
) -> AppResult<Page<import_job::Model>> {
    let dataset_id = dataset_id.uuid();
    datasets::get(svc, caller, Id::new(dataset_id)).await?;
    let mut query = import_job::Entity::find().filter(import_job::Column::DatasetId.eq(dataset_id));
    if let Some(status) = status {
        query = query.filter(import_job::Column::Status.eq(ImportJobStatus::from(status)));
    }
    paginate(
        &svc.db,
        query,
        crate::sort_keys!(import_job, Status, status),
        page,
    )
    .await
}

/// Stops a queued or running job; what it registered so far stays. Needs
/// add-data on the job's dataset. A job that already ended is CONFLICT.
#[tracing::instrument(skip(svc, caller))]
pub async fn cancel(
    svc: &Services,
    caller: &Caller,
    id: Id<import_job::Entity>,
) -> AppResult<import_job::Model> {
    let id = id.uuid();
    let job = get(svc, caller, Id::new(id)).await?;
    datasets::get_for(svc, caller, job.dataset_id, Action::AddData).await?;
    let now = Utc::now();
    let cancelled = import_job::Entity::update_many()
        .col_expr(
            import_job::Column::Status,
            ImportJobStatus::Cancelled.into(),
        )
        .col_expr(import_job::Column::FinishedAt, now.into())
        .col_expr(import_job::Column::UpdatedAt, now.into())
        .col_expr(import_job::Column::Worker, Option::<Uuid>::None.into())
        .filter(import_job::Column::Id.eq(id))
        .filter(
            import_job::Column::Status.is_in([ImportJobStatus::Queued, ImportJobStatus::Running]),
        )
        .exec_with_returning(&svc.db)
        .await?;
    let Some(job) = cancelled.into_iter().next() else {
        let job =
            crate::service::grants::by_id::<import_job::Entity>(svc, id, "import job").await?;
        return Err(AppError::conflict(format!(
            "the import job has already ended ({})",
            job.status
        )));
    };
    announce(svc, &job);
    Ok(job)
}

/// The failed items of a job, in manifest order: `(items, has next page)`.
pub async fn errors(
    svc: &Services,
    job_id: Uuid,
    first: u64,
    after_seq: Option<i64>,
) -> AppResult<(Vec<import_item::Model>, bool)> {
    let mut query = import_item::Entity::find()
        .filter(import_item::Column::JobId.eq(job_id))
        .filter(import_item::Column::Status.eq(ImportItemStatus::Failed));
    if let Some(after) = after_seq {
        query = query.filter(import_item::Column::Seq.gt(after));
    }
    let mut items = query
        .order_by_asc(import_item::Column::Seq)
        .limit(first + 1)
        .all(&svc.db)
        .await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok((items, has_next))
}
