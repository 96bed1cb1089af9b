//! Files: registered into folders from known object URLs, seen through their
//! folder or any dataset that holds them.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::enums::FileKind;
use entity::{dataset, dataset_file, file, folder};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    IdenStatic, QueryFilter, QueryOrder, QueryResult, QuerySelect, Set, Statement, Value,
};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::policy::Action;
use crate::service::access::{
    pg_id_array, visible_datasets, visible_files, FileRoute, PG_ID_ARRAY,
};
use crate::service::folders;
use crate::service::input::{like_pattern, search_term, TITLE_MAX};
use crate::service::page::PageArgs;
use crate::service::row::nullable;
use crate::service::Services;

pub const MAX_FILES_PER_REQUEST: usize = 1000;
pub const MAX_URL_LENGTH: usize = 2048;
const URL_SCHEMES: [&str; 8] = ["s3", "gs", "az", "azure", "http", "https", "file", "local"];

/// One object to register.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub object_url: String,
    pub title: Option<String>,
    pub kind: FileKind,
    pub client_metadata: Option<serde_json::Value>,
}

/// Checks an object URL: a known scheme, something after it, bounded length.
pub fn validate_object_url(url: &str) -> AppResult<String> {
    let url = url.trim();
    if url.len() > MAX_URL_LENGTH {
        return Err(AppError::bad_input(format!(
            "objectUrl is longer than {MAX_URL_LENGTH} characters"
        )));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| AppError::bad_input(format!("objectUrl {url:?} is not a URL")))?;
    if !URL_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
        || rest.is_empty()
        || url.chars().any(char::is_whitespace)
    {
        return Err(AppError::bad_input(format!(
            "objectUrl {url:?} must be a URL with one of the schemes {}",
            URL_SCHEMES.join(", ")
        )));
    }
    Ok(url.to_owned())
}

/// The default title of an object: the path of its URL.
pub fn title_from_url(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or(rest);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if path.is_empty() {
        url.to_owned()
    } else {
        path.to_owned()
    }
}

/// Registers known objects into a folder, all or nothing. Needs folder ADMIN.
#[tracing::instrument(skip(svc, caller, files), fields(count = files.len()))]
pub async fn register(
    svc: &Services,
    caller: &Caller,
    folder_id: Id<folder::Entity>,
    files: Vec<NewFile>,
) -> AppResult<Vec<file::Model>> {
    let folder_id = folder_id.uuid();
    folders::get_for(svc, caller, folder_id, Action::AddFiles).await?;
    if files.is_empty() {
        return Err(AppError::bad_input("files must name at least one file"));
    }
    if files.len() > MAX_FILES_PER_REQUEST {
        return Err(AppError::bad_input(format!(
            "at most {MAX_FILES_PER_REQUEST} files per request"
        )));
    }
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(files.len());
    let now = Utc::now();
    for (index, f) in files.into_iter().enumerate() {
        let at = |e: AppError| match e {
            AppError::BadUserInput(m) => AppError::BadUserInput(format!("files[{index}]: {m}")),
            other => other,
        };
        let url = validate_object_url(&f.object_url).map_err(at)?;
        if !seen.insert(url.clone()) {
            return Err(AppError::bad_input(format!(
                "files[{index}]: objectUrl {url:?} is listed twice"
            )));
        }
        let title = match f.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() > TITLE_MAX => {
                return Err(AppError::bad_input(format!(
                    "files[{index}]: title must be at most {TITLE_MAX} characters"
                )))
            }
            Some(t) => t.to_owned(),
            None => title_from_url(&url),
        };
        if let Some(meta) = &f.client_metadata {
            if !meta.is_object() {
                return Err(AppError::bad_input(format!(
                    "files[{index}]: clientMetadata must be a JSON object"
                )));
            }
            crate::service::input::json_input(&format!("files[{index}].clientMetadata"), meta)?;
        }
        rows.push(file::ActiveModel {
            id: Set(Uuid::now_v7()),
            folder_id: Set(folder_id),
            title: Set(title),
            kind: Set(f.kind),
            object_url: Set(url),
            integration_id: Set(None),
            size_bytes: Set(None),
            mime_type: Set(None),
            width: Set(None),
            height: Set(None),
            duration_seconds: Set(None),
            frame_rate: Set(None),
            frame_count: Set(None),
            variable_frame_rate: Set(None),
            client_metadata: Set(f.client_metadata),
            parts: Set(None),
            created_by: Set(Some(caller.id)),
            created_at: Set(now),
            updated_at: Set(now),
        });
    }
    let txn = crate::service::tx::write(&svc.db).await?;
    let mut created = Vec::with_capacity(rows.len());
    for row in rows {
        created.push(row.insert(&txn).await.map_err(|e| {
            AppError::on_unique(
                e,
                "a file with this objectUrl is already registered in the folder",
            )
        })?);
    }
    txn.commit().await?;
    Ok(created)
}

/// The file, if the caller may see it.
pub async fn get(svc: &Services, caller: &Caller, id: Id<file::Entity>) -> AppResult<file::Model> {
    let id = id.uuid();
    file::Entity::find_by_id(id)
        .filter(visible_files(&svc.policy, caller.id, FileRoute::Any))
        .one(&svc.db)
        .await?
        .ok_or_else(|| AppError::not_found("file"))
}

/// Every one of `ids` must be a file the caller may reach by `route`.
pub async fn require_visible(
    svc: &Services,
    caller: &Caller,
    ids: &[Uuid],
    route: FileRoute,
) -> AppResult<Vec<file::Model>> {
    require_visible_on(&svc.db, svc, caller, ids, route).await
}

/// `require_visible`, read through `db` (a transaction that holds the files'
/// locks sees them as they are now).
pub async fn require_visible_on<C: ConnectionTrait>(
    db: &C,
    svc: &Services,
    caller: &Caller,
    ids: &[Uuid],
    route: FileRoute,
) -> AppResult<Vec<file::Model>> {
    let found = file::Entity::find()
        .filter(file::Column::Id.is_in(ids.iter().copied()))
        .filter(visible_files(&svc.policy, caller.id, route))
        .all(db)
        .await?;
    ids.iter()
        .map(|id| {
            found.iter().find(|f| f.id == *id).cloned().ok_or_else(|| {
                AppError::NotFound(format!("file {} not found", Id::<file::Entity>::new(*id)))
            })
        })
        .collect()
}

/// The datasets holding each file (attached, or mirrored from its folder)
/// that the caller may see; keys are `(file id, folder id)`. Two statements.
pub async fn datasets_of_many(
    svc: &Services,
    caller: &Caller,
    files: &[(Uuid, Uuid)],
) -> AppResult<HashMap<(Uuid, Uuid), Vec<dataset::Model>>> {
    let links: Vec<(Uuid, Uuid)> = dataset_file::Entity::find()
        .select_only()
        .column(dataset_file::Column::FileId)
        .column(dataset_file::Column::DatasetId)
        .filter(dataset_file::Column::FileId.is_in(files.iter().map(|(f, _)| *f)))
        .into_tuple()
        .all(&svc.db)
        .await?;
    let found = dataset::Entity::find()
        .filter(
            Condition::any()
                .add(dataset::Column::Id.is_in(links.iter().map(|(_, d)| *d)))
                .add(dataset::Column::FolderId.is_in(files.iter().map(|(_, folder)| *folder))),
        )
        .filter(visible_datasets(svc, caller.id))
        .order_by_asc(dataset::Column::Id)
        .all(&svc.db)
        .await?;
    Ok(files
        .iter()
        .map(|&(file_id, folder_id)| {
            let holding = found
                .iter()
                .filter(|d| d.folder_id == Some(folder_id) || links.contains(&(file_id, d.id)))
                .cloned()
                .collect();
            ((file_id, folder_id), holding)
        })
        .collect())
}

/// What a list of files belongs to: a folder (also the files of a mirrored
/// dataset) or the attached files of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileParent {
    Folder(Uuid),
    Dataset(Uuid),
}

impl FileParent {
    pub fn of_dataset(d: &dataset::Model) -> FileParent {
        match d.folder_id {
            Some(folder) => FileParent::Folder(folder),
            None => FileParent::Dataset(d.id),
        }
    }
}

/// Which files of a parent a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FileFilter {
    /// Only files of this kind.
    pub kind: Option<FileKind>,
    /// Only files whose title contains this text (case-insensitive).
    pub search: Option<String>,
}

/// How the files of one kind of parent are reached: the parent ids, how to
/// wrap them, and over which key the files are found.
struct ParentScope {
    ids: Vec<Uuid>,
    wrap: fn(Uuid) -> FileParent,
    /// The table holding the key `(parent, file id)`, aliased `k`.
    keys: &'static str,
    parent_col: &'static str,
    file_col: &'static str,
}

/// The two kinds of parent and the ids of `parents` of each: a folder's
/// files by `files (folder_id, id)`, a dataset's by `dataset_files
/// (dataset_id, file_id)`.
fn parent_scopes(parents: &[FileParent]) -> [ParentScope; 2] {
    let mut folders = Vec::new();
    let mut datasets = Vec::new();
    for parent in parents {
        match parent {
            FileParent::Folder(id) => folders.push(*id),
            FileParent::Dataset(id) => datasets.push(*id),
        }
    }
    [
        ParentScope {
            ids: folders,
            wrap: FileParent::Folder,
            keys: "files k",
            parent_col: "k.folder_id",
            file_col: "k.id",
        },
        ParentScope {
            ids: datasets,
            wrap: FileParent::Dataset,
            keys: "dataset_files k",
            parent_col: "k.dataset_id",
            file_col: "k.file_id",
        },
    ]
}

/// Bind values and their placeholders, written in the order they appear.
struct Binds {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Binds {
    fn new(backend: DbBackend) -> Binds {
        Binds {
            backend,
            values: Vec::new(),
        }
    }

    /// Binds `value`; returns its placeholder.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        placeholders(self.backend, self.values.len(), 1)
    }

    /// `ids` as a one-column table (the body of a CTE): one array bound on
    /// PostgreSQL, so the statement's text does not change with their number;
    /// a `VALUES` list on SQLite.
    fn list(&mut self, ids: &[Uuid]) -> String {
        if self.backend == DbBackend::Postgres {
            format!(
                "SELECT unnest(CAST({} AS uuid[]))",
                self.bind(pg_id_array(ids))
            )
        } else {
            let rows: Vec<String> = ids
                .iter()
                .map(|id| format!("({})", self.bind(*id)))
                .collect();
            format!("VALUES {}", rows.join(", "))
        }
    }

    /// `column` is one of `ids`: `= ANY` of one bound array on PostgreSQL,
    /// `IN (…)` on SQLite.
    fn any(&mut self, column: &str, ids: &[Uuid]) -> String {
        if self.backend == DbBackend::Postgres {
            let array = self.bind(pg_id_array(ids));
            format!("{column} = ANY({})", PG_ID_ARRAY.replace("{}", &array))
        } else {
            let list: Vec<String> = ids.iter().map(|id| self.bind(*id)).collect();
            format!("{column} IN ({})", list.join(", "))
        }
    }

    fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

/// A PostgreSQL array literal of `ids` (bound as text and cast: the
/// database driver is built without array types).
/// `FROM <keys> [JOIN files]` for `scope`, and ` AND …` conditions for
/// `filter` (the files' columns are joined only when the filter reads them).
fn keys_from(scope: &ParentScope, filter: &FileFilter, binds: &mut Binds) -> (String, String) {
    let term = search_term(filter.search.as_deref());
    let filtered = filter.kind.is_some() || term.is_some();
    let (from, files) = if scope.keys.starts_with("files ") {
        (format!("FROM {}", scope.keys), "k")
    } else if filtered {
        (
            format!(
                "FROM {} JOIN files kf ON kf.id = {}",
                scope.keys, scope.file_col
            ),
            "kf",
        )
    } else {
        (format!("FROM {}", scope.keys), "")
    };
    let mut conditions = String::new();
    if let Some(kind) = filter.kind {
        conditions.push_str(&format!(
            " AND {files}.kind = {}",
            binds.bind(kind.as_str())
        ));
    }
    if let Some(term) = term {
        conditions.push_str(&format!(
            " AND LOWER({files}.title) LIKE {} ESCAPE '\\'",
            binds.bind(like_pattern(term))
        ));
    }
    (from, conditions)
}

/// One page of files for each parent, `(files, has next page)`, in one
/// statement whatever kinds of parent there are: a part per kind, joined by
/// `UNION ALL`. The first `limit + 1` keys of each parent are taken from the
/// (parent, file id) index by a subquery per parent that stops after them
/// (LATERAL on PostgreSQL), and only those files read.
pub async fn pages(
    svc: &Services,
    parents: &[FileParent],
    args: &PageArgs,
    filter: &FileFilter,
    columns: FileColumns,
) -> AppResult<HashMap<FileParent, (Vec<file::Model>, bool)>> {
    let columns = columns.union(FileColumns::KEY);
    let select_list = columns.select_list();
    let limit = args.limit()?;
    let mut out: HashMap<FileParent, (Vec<file::Model>, bool)> =
        parents.iter().map(|p| (*p, (Vec::new(), false))).collect();
    if limit == 0 {
        return Ok(out);
    }
    let backend = svc.db.get_database_backend();
    let scopes = parent_scopes(parents);
    let mut binds = Binds::new(backend);
    // The parents of each kind first (bound in the order they are written).
    let mut lists = Vec::new();
    for (kind, scope) in scopes.iter().enumerate() {
        if !scope.ids.is_empty() {
            lists.push(format!("p{kind}(parent) AS ({})", binds.list(&scope.ids)));
        }
    }
    if lists.is_empty() {
        return Ok(out);
    }
    let mut parts = Vec::new();
    for (kind, scope) in scopes.iter().enumerate() {
        if scope.ids.is_empty() {
            continue;
        }
        let (parent_col, file_col) = (scope.parent_col, scope.file_col);
        let (from, mut conditions) = keys_from(scope, filter, &mut binds);
        if let Some(after) = &args.after {
            conditions.push_str(&format!(" AND {file_col} > {}", binds.bind(after.id)));
        }
        let take = binds.bind(limit as i64 + 1);
        parts.push(if backend == DbBackend::Postgres {
            format!(
                "SELECT {select_list}, {kind} AS page_kind, p.parent AS page_parent \
                 FROM p{kind} p CROSS JOIN LATERAL (SELECT {file_col} AS file_id {from} \
                 WHERE {parent_col} = p.parent{conditions} ORDER BY {file_col} LIMIT {take}) r \
                 JOIN files f ON f.id = r.file_id"
            )
        } else {
            // No LATERAL on SQLite: for each parent, the files whose id is
            // among its first keys, a subquery it runs per parent.
            format!(
                "SELECT {select_list}, {kind} AS page_kind, p.parent AS page_parent \
                 FROM p{kind} p JOIN files f WHERE f.id IN (SELECT {file_col} {from} \
                 WHERE {parent_col} = p.parent{conditions} ORDER BY {file_col} LIMIT {take})"
            )
        });
    }
    let sql = format!(
        "WITH {} {} ORDER BY page_kind, page_parent, id",
        lists.join(", "),
        parts.join(" UNION ALL ")
    );
    let rows = svc.db.query_all_raw(binds.statement(sql)).await?;
    // The page's kind and parent follow the file's columns.
    let (kind_at, parent_at) = (columns.len(), columns.len() + 1);
    for row in rows {
        let kind = row.try_get_by_index::<i32>(kind_at)?;
        let Some(scope) = usize::try_from(kind).ok().and_then(|k| scopes.get(k)) else {
            continue;
        };
        let parent = (scope.wrap)(row.try_get_by_index::<Uuid>(parent_at)?);
        let model = file_from_row(&row, columns)?;
        let entry = out.entry(parent).or_default();
        if entry.0.len() as u64 == limit {
            entry.1 = true;
        } else {
            entry.0.push(model);
        }
    }
    Ok(out)
}

/// The columns of a file, in the order [`pages`] selects them.
const FILE_COLUMNS: [file::Column; 19] = [
    file::Column::Id,
    file::Column::FolderId,
    file::Column::Title,
    file::Column::Kind,
    file::Column::ObjectUrl,
    file::Column::IntegrationId,
    file::Column::SizeBytes,
    file::Column::MimeType,
    file::Column::Width,
    file::Column::Height,
    file::Column::DurationSeconds,
    file::Column::FrameRate,
    file::Column::FrameCount,
    file::Column::VariableFrameRate,
    file::Column::ClientMetadata,
    file::Column::Parts,
    file::Column::CreatedBy,
    file::Column::CreatedAt,
    file::Column::UpdatedAt,
];

/// Which columns of its files a page reads: the key (id and folder) and
/// those the fields a client selected show. A page of titles reads three
/// columns of each file, not nineteen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileColumns(u32);

impl FileColumns {
    /// Every column.
    pub const ALL: FileColumns = FileColumns((1 << FILE_COLUMNS.len()) - 1);
    /// The key alone: `id` and `folder_id`.
    pub const KEY: FileColumns = FileColumns(0b11);

    /// These columns and `more`.
    pub fn with(self, more: &[file::Column]) -> FileColumns {
        more.iter().fold(self, |FileColumns(bits), column| {
            let at = FILE_COLUMNS
                .iter()
                .position(|known| known.as_str() == column.as_str())
                .expect("every column of files is in FILE_COLUMNS");
            FileColumns(bits | 1 << at)
        })
    }

    pub fn union(self, other: FileColumns) -> FileColumns {
        FileColumns(self.0 | other.0)
    }

    /// How many columns the set holds.
    fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    fn has(self, at: usize) -> bool {
        self.0 & (1 << at) != 0
    }

    /// `f.<column>, …` for the columns of this set, in [`FILE_COLUMNS`] order.
    fn select_list(self) -> String {
        let names: Vec<String> = FILE_COLUMNS
            .iter()
            .enumerate()
            .filter(|(at, _)| self.has(*at))
            .map(|(_, column)| format!("f.{}", column.as_str()))
            .collect();
        names.join(", ")
    }
}

/// Reads the columns of a [`FileColumns`] select list by their place.
struct FileRow<'a> {
    row: &'a QueryResult,
    columns: FileColumns,
    next: usize,
}

impl FileRow<'_> {
    /// The place in the row of the column at `at` in [`FILE_COLUMNS`], if
    /// it was selected (called in that order).
    fn place(&mut self, at: usize) -> Option<usize> {
        self.columns.has(at).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// A NOT NULL column; `None` when not selected.
    fn value<T: sea_orm::TryGetable>(&mut self, at: usize) -> Result<Option<T>, DbErr> {
        self.place(at)
            .map(|place| self.row.try_get_by_index(place))
            .transpose()
    }

    /// An optional column; `None` also when not selected.
    fn optional<T: sea_orm::TryGetable>(&mut self, at: usize) -> Result<Option<T>, DbErr> {
        Ok(match self.place(at) {
            Some(place) => nullable(self.row, place)?,
            None => None,
        })
    }
}

/// A file from a row that starts with `columns`' select list, its optional
/// columns read with [`nullable`] (most files leave most of them empty).
/// Columns not selected keep empty values, which no field the client
/// selected reads.
fn file_from_row(row: &QueryResult, columns: FileColumns) -> Result<file::Model, DbErr> {
    let mut r = FileRow {
        row,
        columns,
        next: 0,
    };
    Ok(file::Model {
        id: r.value(0)?.unwrap_or_default(),
        folder_id: r.value(1)?.unwrap_or_default(),
        title: r.value(2)?.unwrap_or_default(),
        kind: r.value(3)?.unwrap_or(FileKind::Image),
        object_url: r.value(4)?.unwrap_or_default(),
        integration_id: r.optional(5)?,
        size_bytes: r.optional(6)?,
        mime_type: r.optional(7)?,
        width: r.optional(8)?,
        height: r.optional(9)?,
        duration_seconds: r.optional(10)?,
        frame_rate: r.optional(11)?,
        frame_count: r.optional(12)?,
        variable_frame_rate: r.optional(13)?,
        client_metadata: r.optional(14)?,
        parts: r.optional(15)?,
        created_by: r.optional(16)?,
        created_at: r.value(17)?.unwrap_or_default(),
        updated_at: r.value(18)?.unwrap_or_default(),
    })
}

/// The number of files of each parent that pass `filter`, in one statement:
/// a grouped count per kind of parent, joined by `UNION ALL`, each over the
/// (parent, file id) index alone unless the filter reads the files.
pub async fn counts(
    svc: &Services,
    parents: &[FileParent],
    filter: &FileFilter,
) -> AppResult<HashMap<FileParent, u64>> {
    let mut out: HashMap<FileParent, u64> = parents.iter().map(|p| (*p, 0)).collect();
    let backend = svc.db.get_database_backend();
    let scopes = parent_scopes(parents);
    let mut binds = Binds::new(backend);
    let mut parts = Vec::new();
    for (kind, scope) in scopes.iter().enumerate() {
        if scope.ids.is_empty() {
            continue;
        }
        let parent_col = scope.parent_col;
        let parents = binds.any(parent_col, &scope.ids);
        let (from, conditions) = keys_from(scope, filter, &mut binds);
        parts.push(format!(
            "SELECT {kind} AS page_kind, {parent_col} AS page_parent, COUNT(*) AS n {from} \
             WHERE {parents}{conditions} GROUP BY {parent_col}"
        ));
    }
    if parts.is_empty() {
        return Ok(out);
    }
    let sql = parts.join(" UNION ALL ");
    let rows = svc.db.query_all_raw(binds.statement(sql)).await?;
    // Read by place: page_kind, page_parent, n.
    for row in rows {
        let kind = row.try_get_by_index::<i32>(0)?;
        let Some(scope) = usize::try_from(kind).ok().and_then(|k| scopes.get(k)) else {
            continue;
        };
        let parent = (scope.wrap)(row.try_get_by_index::<Uuid>(1)?);
        out.insert(parent, row.try_get_by_index::<i64>(2)? as u64);
    }
    Ok(out)
}

/// `n` bind placeholders starting at position `first` (1-based).
fn placeholders(backend: DbBackend, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_need_a_known_scheme_and_a_path() {
        assert!(validate_object_url("s3://bucket/a.jpg").is_ok());
        assert!(validate_object_url("https://cdn.example.com/v.mp4").is_ok());
        assert!(validate_object_url("ftp://x/y").is_err());
        assert!(validate_object_url("no-scheme").is_err());
        assert!(validate_object_url("s3://").is_err());
        assert!(validate_object_url("s3://bucket/a b.jpg").is_err());
    }

    #[test]
    fn titles_default_to_the_url_path() {
        assert_eq!(
            title_from_url("s3://bucket/animals/chicken.mp4"),
            "animals/chicken.mp4"
        );
        assert_eq!(title_from_url("https://host/a.jpg?sig=1"), "a.jpg");
    }
}
