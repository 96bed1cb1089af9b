//! Imports from cloud storage: submitting a manifest, following and
//! cancelling the job.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, Upload, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{import_item, import_job};

use super::dataset::Dataset;
use super::folder::Folder;
use super::integration::Integration;
use super::loaders::UserField;
use super::user::User;
use super::{connection, global_id, loaders, or_null, page_args, parse_id, scope, Conn};
use crate::error::{AppError, AppResult};
use crate::events::ImportStatus;
use crate::import::jobs::{self, ImportErrorCode, NewImport};
use crate::import::manifest;
use crate::service::page::{Order, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// How a manifest is written.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ManifestFormat {
    /// `{"videos": [{"objectUrl": …}], "images": […], …}`.
    Json,
    /// A header row (`objectUrl`, optional `title`, `kind`,
    /// `clientMetadata`), then one object a line.
    Csv,
}

impl From<ManifestFormat> for manifest::ManifestFormat {
    fn from(format: ManifestFormat) -> Self {
        match format {
            ManifestFormat::Json => manifest::ManifestFormat::Json,
            ManifestFormat::Csv => manifest::ManifestFormat::Csv,
        }
    }
}

/// A job registering the objects a manifest lists into a dataset.
pub struct ImportJob(pub import_job::Model);

fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[Object]
impl ImportJob {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::import_job::Entity>(self.0.id)
    }
    /// Where the job is.
    async fn status(&self) -> ImportStatus {
        jobs::status_of(&self.0)
    }
    /// Entries in the manifest.
    async fn total(&self) -> i32 {
        count(self.0.total)
    }
    /// Entries dealt with so far: succeeded + failed + skipped.
    async fn processed(&self) -> i32 {
        count(self.0.processed)
    }
    /// Entries whose objects were read and registered — in an
    /// all-or-nothing job, read and ready to be registered when every entry
    /// is; a FAILED all-or-nothing job registers none.
    async fn succeeded(&self) -> i32 {
        count(self.0.succeeded)
    }
    /// Entries that could not be registered; see `errors`.
    async fn failed(&self) -> i32 {
        count(self.0.failed)
    }
    /// Entries not registered because their object URL was already in the
    /// folder or listed before in the manifest.
    async fn skipped(&self) -> i32 {
        count(self.0.skipped)
    }
    /// How the manifest was written.
    async fn format(&self) -> ManifestFormat {
        if self.0.format == "CSV" {
            ManifestFormat::Csv
        } else {
            ManifestFormat::Json
        }
    }
    /// Whether bad entries are recorded as errors while the rest goes in
    /// (true) or fail the job with nothing registered (false).
    async fn ignore_file_errors(&self) -> bool {
        self.0.ignore_file_errors
    }
    /// Whether object URLs already registered in the folder (or listed twice)
    /// are skipped rather than treated as errors.
    async fn skip_duplicate_urls(&self) -> bool {
        self.0.skip_duplicate_urls
    }
    /// Why the job FAILED, when it failed as a whole.
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    /// The dataset the files go into, when the caller may see it.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        Ok(loaders(ctx)?
            .datasets
            .load_one(self.0.dataset_id)
            .await?
            .map(Dataset::viewable))
    }
    /// The folder the files are registered in, when the caller may see it.
    async fn folder(&self, ctx: &Context<'_>) -> Result<Option<Folder>> {
        Ok(loaders(ctx)?
            .folders
            .load_one(self.0.folder_id)
            .await?
            .map(Folder::viewable))
    }
    /// The storage integration the objects are read through, when the
    /// caller may see it (null once deleted).
    async fn integration(&self, ctx: &Context<'_>) -> Result<Option<Integration>> {
        let Some(id) = self.0.integration_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .integrations
            .load_one(id)
            .await?
            .map(Integration::viewable))
    }
    /// Who submitted it.
    async fn submitted_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .user(UserField::ImportSubmitter, self.0.submitted_by)
            .await?
            .map(User))
    }
    /// When it was submitted.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When an instance first started it.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    /// When it ended.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// When its state last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The entries that could not be registered, in manifest order.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn errors(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last error of the previous page.")] after: Option<String>,
    ) -> Result<Connection<String, ImportError, ImportErrorsTotal>> {
        let (svc, _) = scope(ctx)?;
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(AppError::bad_input(format!(
                "first must be between 0 and {MAX_PAGE_SIZE}"
            ))
            .into());
        }
        let after_seq = after
            .as_deref()
            .map(|cursor| {
                decode_error_cursor(cursor)
                    .ok_or_else(|| AppError::bad_input("after is not a valid cursor"))
            })
            .transpose()?;
        let (items, has_next) = jobs::errors(svc, self.0.id, first as u64, after_seq).await?;
        let mut conn = Connection::with_additional_fields(
            after_seq.is_some(),
            has_next,
            ImportErrorsTotal(self.0.failed),
        );
        conn.edges = items
            .into_iter()
            .map(|item| Edge::new(encode_error_cursor(item.seq), ImportError::from(item)))
            .collect();
        Ok(conn)
    }
}

/// The size of a job's error list.
pub struct ImportErrorsTotal(i64);

#[Object]
impl ImportErrorsTotal {
    /// The number of errors (the job's `failed`).
    async fn total_count(&self) -> u64 {
        u64::try_from(self.0).unwrap_or(0)
    }
}

fn encode_error_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("error:{seq}"))
}

fn decode_error_cursor(cursor: &str) -> Option<i64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    raw.strip_prefix("error:")?.parse().ok()
}

/// An entry of a manifest that could not be registered.
#[derive(SimpleObject)]
pub struct ImportError {
    /// 0-based number of the entry in the manifest.
    pub entry: i32,
    /// The CSV line it is on (the header is line 1).
    pub line: Option<i32>,
    /// Its (first) object URL, when it has one.
    pub object_url: Option<String>,
    /// What went wrong.
    pub code: ImportErrorCode,
    /// What went wrong, in words.
    pub message: String,
}

impl From<import_item::Model> for ImportError {
    fn from(item: import_item::Model) -> Self {
        ImportError {
            entry: count(item.seq),
            line: item.line.map(count),
            object_url: Some(item.object_url).filter(|u| !u.is_empty()),
            code: ImportErrorCode::parse(item.error_code.as_deref().unwrap_or_default()),
            message: item.error_message.unwrap_or_default(),
        }
    }
}

/// `importFromCloud`'s input. Give the manifest as text (`manifest`) or as
/// an uploaded file (`file`, a GraphQL multipart request), not both.
#[derive(InputObject)]
pub struct ImportFromCloudInput {
    /// The dataset the files go into (needs add-data on it).
    pub dataset_id: ID,
    /// The folder the files are registered in (needs add-files on it). A
    /// dataset with a folder of its own takes its files there: leave this
    /// out. Required for other datasets; the files are then also attached.
    pub folder_id: Option<ID>,
    /// The storage integration the objects are read through (needs use).
    pub integration_id: ID,
    /// The manifest as text.
    pub manifest: Option<String>,
    /// The manifest as an uploaded file.
    pub file: Option<Upload>,
    /// How the manifest is written; by default from the uploaded file's
    /// extension (`.json`, `.csv`), else JSON when the text starts with `{`
    /// and CSV otherwise.
    pub format: Option<ManifestFormat>,
    /// False (the default, also when null): any bad entry fails the job and nothing is
    /// registered. True: bad entries become errors of the job and the rest
    /// is registered.
    pub ignore_file_errors: Option<bool>,
    /// Skip object URLs already registered in the folder or listed before in
    /// the manifest (rather than treating them as errors). Default: the JSON
    /// manifest's `skip_duplicate_urls`, else true.
    pub skip_duplicate_urls: Option<bool>,
}

/// `cancelImportJob`'s input.
#[derive(InputObject)]
pub struct CancelImportJobInput {
    /// The job to stop.
    pub id: ID,
}

/// The format a manifest's text suggests: JSON when it starts with `{`.
fn sniff_format(text: &str) -> ManifestFormat {
    if text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
    {
        ManifestFormat::Json
    } else {
        ManifestFormat::Csv
    }
}

#[derive(Default)]
pub struct ImportQuery;

#[Object]
impl ImportQuery {
    /// An import job of a dataset the caller may view; null with NOT_FOUND
    /// otherwise.
    async fn import_job(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ImportJob>> {
        let result = async {
            let (svc, caller) = scope(ctx)?;
            let id = parse_id(&id, "id")?;
            jobs::get(svc, caller, id).await.map(ImportJob)
        };
        or_null(ctx, result.await)
    }

    /// The import jobs of a dataset the caller may view, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn import_jobs(
        &self,
        ctx: &Context<'_>,
        dataset_id: ID,
        #[graphql(desc = "Only jobs in this status.")] status: Option<ImportStatus>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last job of the previous page.")] after: Option<String>,
    ) -> Result<Conn<ImportJob>> {
        let (svc, caller) = scope(ctx)?;
        let dataset_id = parse_id(&dataset_id, "datasetId")?;
        let mut page = page_args(first, after)?;
        page.order = Order {
            by_name: false,
            descending: true,
        };
        let jobs = jobs::list(svc, caller, dataset_id, status, page).await?;
        Ok(connection(jobs, ImportJob))
    }
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Registers the objects a manifest lists into a dataset, reading their
    /// metadata from storage in the background. The manifest is read now: a
    /// malformed one is BAD_USER_INPUT naming the line or entry. Follow the
    /// job with `importProgress` or `importJob`.
    async fn import_from_cloud(
        &self,
        ctx: &Context<'_>,
        input: ImportFromCloudInput,
    ) -> Result<ImportJob> {
        let (svc, caller) = scope(ctx)?;
        let request = |format: ManifestFormat| -> AppResult<NewImport> {
            Ok(NewImport {
                dataset_id: parse_id(&input.dataset_id, "datasetId")?,
                folder_id: input
                    .folder_id
                    .as_ref()
                    .map(|id| parse_id(id, "folderId"))
                    .transpose()?,
                integration_id: parse_id(&input.integration_id, "integrationId")?,
                format: format.into(),
                ignore_file_errors: input.ignore_file_errors.unwrap_or(false),
                skip_duplicate_urls: input.skip_duplicate_urls,
            })
        };
        let limits = svc.manifest_limits;
        let job = match (&input.manifest, &input.file) {
            (Some(text), None) => {
                let format = input.format.unwrap_or_else(|| sniff_format(text));
                jobs::submit(svc, caller, request(format)?, text.as_bytes(), limits).await?
            }
            (None, Some(upload)) => {
                let value = upload
                    .value(ctx)
                    .map_err(|_| AppError::bad_input("file: the upload could not be read"))?;
                let format = match input.format {
                    Some(format) => format,
                    None => match manifest::ManifestFormat::from_file_name(&value.filename) {
                        Some(manifest::ManifestFormat::Csv) => ManifestFormat::Csv,
                        Some(manifest::ManifestFormat::Json) => ManifestFormat::Json,
                        None => {
                            return Err(AppError::bad_input(
                                "format is required: the uploaded file's name ends neither in .json nor in .csv",
                            )
                            .into())
                        }
                    },
                };
                let file = tokio::fs::File::from_std(value.content);
                jobs::submit(svc, caller, request(format)?, file, limits).await?
            }
            _ => {
                return Err(AppError::bad_input(
                    "give the manifest either as text (manifest) or as an uploaded file (file), not both",
                )
                .into())
            }
        };
        Ok(ImportJob(job))
    }

    /// Stops a queued or running import job; what it registered so far
    /// stays (an all-or-nothing job registers nothing). Needs add-data on
    /// its dataset; a job that already ended is CONFLICT.
    async fn cancel_import_job(
        &self,
        ctx: &Context<'_>,
        input: CancelImportJobInput,
    ) -> Result<ImportJob> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(ImportJob(jobs::cancel(svc, caller, id).await?))
    }
}

/// The job by id, if the caller may view its dataset.
pub async fn load(
    svc: &crate::service::Services,
    caller: &crate::auth::Caller,
    id: crate::ids::Id<import_job::Entity>,
) -> AppResult<ImportJob> {
    jobs::get(svc, caller, id).await.map(ImportJob)
}
