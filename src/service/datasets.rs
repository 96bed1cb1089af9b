//! Datasets: files attached from folders (or mirrored from one folder),
//! shared through dataset roles, read-only through projects.

use entity::enums::AuditAction;
use std::collections::HashMap;

use chrono::Utc;
use entity::{dataset, dataset_file, file, folder, project, project_dataset};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::events::DatasetChange;
use crate::ids::Id;
use crate::policy::{Action, Kind, Role};
use crate::service::access::{self, visible_datasets, Access, FileRoute};
use crate::service::grants;
use crate::service::input::{
    contains_ci, optional_text, required_text, search_term, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::service::page::{paginate, paginate_visible, Page, PageArgs};
use crate::service::users::require_workspace;
use crate::service::{audit, files, folders, Services};

/// The word a caller must type to delete a dataset.
pub const DELETE_CONFIRMATION: &str = "delete";
/// The most IDs `attachFilesToDataset` takes in each of `fileIds` and
/// `folderIds`; a folder's files are not counted (they are attached by one
/// statement however many there are).
pub const MAX_ATTACH_IDS: usize = 10_000;
/// Files linked by one INSERT.
const ATTACH_CHUNK: usize = 1_000;

/// The dataset, if the caller may see it, with what they may do to it.
pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: Id<dataset::Entity>,
) -> AppResult<(dataset::Model, Access)> {
    let id = id.uuid();
    grants::visible::<dataset::Entity>(svc, caller, Kind::Dataset, id, "dataset").await
}

/// Like `get`, and FORBIDDEN unless the caller may do `action`.
pub async fn get_for(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> AppResult<(dataset::Model, Access)> {
    grants::visible_for::<dataset::Entity>(svc, caller, Kind::Dataset, id, "dataset", action).await
}

/// Datasets the caller may see; with `my_role`, only those on which the
/// caller holds one of these roles of their own (directly or through a
/// group), not read-only access through projects.
pub async fn list(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    my_role: Option<&[Role]>,
    page: PageArgs,
) -> AppResult<Page<dataset::Model>> {
    let visible = match my_role {
        None => visible_datasets(svc, caller.id),
        Some(roles) => {
            let roles = access::viewing_roles(&svc.policy, Kind::Dataset, roles);
            Condition::all().add(
                access::ids_with_roles(svc, Kind::Dataset, &roles, caller.id)
                    .contains(dataset::Column::Id),
            )
        }
    };
    let query = with_search(dataset::Entity::find().filter(visible), search);
    paginate_visible(
        &svc.db,
        query,
        crate::sort_keys!(dataset, Title, title),
        page,
    )
    .await
}

/// Every dataset of the workspace (workspace ADMINs only); with `joined`,
/// only those on which the caller holds (`true`) or does not hold (`false`)
/// a role of their own, directly or through a group.
pub async fn list_workspace(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    joined: Option<bool>,
    page: PageArgs,
) -> AppResult<Page<dataset::Model>> {
    require_workspace(svc, caller, Action::ListAllDatasets).await?;
    let mut query = dataset::Entity::find();
    if let Some(joined) = joined {
        let own = access::granted_ids(svc, Kind::Dataset, Action::View, caller.id);
        query = query.filter(if joined {
            own.contains(dataset::Column::Id)
        } else {
            own.excludes(dataset::Column::Id)
        });
    }
    paginate(
        &svc.db,
        with_search(query, search),
        crate::sort_keys!(dataset, Title, title),
        page,
    )
    .await
}

fn with_search(
    query: sea_orm::Select<dataset::Entity>,
    search: Option<&str>,
) -> sea_orm::Select<dataset::Entity> {
    match search_term(search) {
        Some(term) => query.filter(
            Condition::any()
                .add(contains_ci(dataset::Column::Title, term))
                .add(contains_ci(dataset::Column::Description, term)),
        ),
        None => query,
    }
}

/// Creates a dataset; with a folder it is mirrored (needs folder ADMIN).
#[tracing::instrument(skip(svc, caller))]
pub async fn create(
    svc: &Services,
    caller: &Caller,
    title: &str,
    description: Option<&str>,
    folder_id: Option<Id<folder::Entity>>,
) -> AppResult<dataset::Model> {
    let folder_id = folder_id.map(Id::uuid);
    require_workspace(svc, caller, Action::CreateResources).await?;
    let title = required_text("title", title, TITLE_MAX)?;
    let description = optional_text("description", description, DESCRIPTION_MAX)?;
    if let Some(folder) = folder_id {
        folders::get_for(svc, caller, folder, Action::AddFiles).await?;
    }
    let now = Utc::now();
    let row = dataset::ActiveModel {
        id: Set(Uuid::now_v7()),
        title: Set(title),
        description: Set(description),
        folder_id: Set(folder_id),
        created_by: Set(Some(caller.id)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    grants::create_owned(svc, caller, row, AppError::from).await
}

#[tracing::instrument(skip(svc, caller))]
pub async fn update(
    svc: &Services,
    caller: &Caller,
    id: Id<dataset::Entity>,
    title: Option<&str>,
    description: Option<&str>,
) -> AppResult<dataset::Model> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::AdjustSettings).await?;
    let mut active = existing.into_active_model();
    if let Some(title) = title {
        active.title = Set(required_text("title", title, TITLE_MAX)?);
    }
    if description.is_some() {
        active.description = Set(optional_text("description", description, DESCRIPTION_MAX)?);
    }
    active.updated_at = Set(Utc::now());
    let updated = active.update(&svc.db).await?;
    svc.events
        .dataset_changed(id, DatasetChange::SettingsChanged);
    Ok(updated)
}

/// Deletes a dataset (not its files); `confirm` must be the word `delete`.
#[tracing::instrument(skip(svc, caller))]
pub async fn delete(
    svc: &Services,
    caller: &Caller,
    id: Id<dataset::Entity>,
    confirm: &str,
) -> AppResult<Uuid> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::Delete).await?;
    if confirm != DELETE_CONFIRMATION {
        return Err(AppError::bad_input(format!(
            "type the word {DELETE_CONFIRMATION:?} in confirm to delete this dataset"
        )));
    }
    let txn = crate::service::tx::write(&svc.db).await?;
    grants::delete_all(&txn, Kind::Dataset, id).await?;
    dataset::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::DatasetDelete,
        Kind::Dataset,
        id,
        json!({ "title": existing.title }),
    )
    .await?;
    txn.commit().await?;
    svc.events.dataset_changed(id, DatasetChange::Deleted);
    Ok(id)
}

fn require_not_mirrored(d: &dataset::Model) -> AppResult<()> {
    if d.folder_id.is_some() {
        return Err(AppError::bad_input(
            "this dataset mirrors a folder: its files are the folder's files; move files with moveFiles",
        ));
    }
    Ok(())
}

/// The datasets among `ids` that the caller may see, in one statement.
pub async fn visible_by_ids(
    svc: &Services,
    caller: &Caller,
    ids: &[Uuid],
) -> AppResult<Vec<dataset::Model>> {
    Ok(dataset::Entity::find()
        .filter(dataset::Column::Id.is_in(ids.iter().copied()))
        .filter(visible_datasets(svc, caller.id))
        .all(&svc.db)
        .await?)
}

/// Attaches files, and every file of the given folders, to a dataset. The
/// caller needs add-data on the dataset and a role of their own that reaches
/// each file (a folder or dataset role, not view through a project).
#[tracing::instrument(skip(svc, caller))]
pub async fn attach_files(
    svc: &Services,
    caller: &Caller,
    id: Id<dataset::Entity>,
    file_ids: &[Id<file::Entity>],
    folder_ids: &[Id<folder::Entity>],
) -> AppResult<dataset::Model> {
    let id = id.uuid();
    let file_ids = &crate::ids::uuids(file_ids)[..];
    let folder_ids = &crate::ids::uuids(folder_ids)[..];
    let (model, _) = get_for(svc, caller, id, Action::AddData).await?;
    require_not_mirrored(&model)?;
    if file_ids.is_empty() && folder_ids.is_empty() {
        return Err(AppError::bad_input("name at least one file or folder"));
    }
    for (list, len) in [("fileIds", file_ids.len()), ("folderIds", folder_ids.len())] {
        if len > MAX_ATTACH_IDS {
            return Err(AppError::bad_input(format!(
                "{list} names {len} IDs; at most {MAX_ATTACH_IDS} are taken at once (attach a folder's files with folderIds)"
            )));
        }
    }
    let ids = grants::dedup(file_ids);
    files::require_visible(svc, caller, &ids, FileRoute::OwnRoles).await?;
    let folder_ids = grants::dedup(folder_ids);
    for folder in &folder_ids {
        folders::get_for(svc, caller, *folder, Action::View).await?;
    }
    let now = Utc::now();
    let txn = crate::service::tx::write(&svc.db).await?;
    // In pieces: one statement binds three values a file, and databases cap
    // the values of a statement (32,766 on SQLite, 65,535 on PostgreSQL).
    for chunk in ids.chunks(ATTACH_CHUNK) {
        let links = chunk.iter().map(|file_id| dataset_file::ActiveModel {
            dataset_id: Set(id),
            file_id: Set(*file_id),
            created_at: Set(now),
        });
        dataset_file::Entity::insert_many(links)
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
    }
    // A folder's files, however many, in one statement that binds three values.
    for folder in folder_ids {
        let files_of_folder = Query::select()
            .expr(Expr::val(id))
            .column(file::Column::Id)
            .expr(Expr::val(now))
            .from(file::Entity)
            .and_where(file::Column::FolderId.eq(folder))
            .to_owned();
        let insert = Query::insert()
            .into_table(dataset_file::Entity)
            .columns([
                dataset_file::Column::DatasetId,
                dataset_file::Column::FileId,
                dataset_file::Column::CreatedAt,
            ])
            .select_from(files_of_folder)
            .map_err(|e| AppError::Internal(e.to_string()))?
            .on_conflict(
                OnConflict::columns([
                    dataset_file::Column::DatasetId,
                    dataset_file::Column::FileId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .to_owned();
        txn.execute(&insert).await?;
    }
    txn.commit().await?;
    svc.events.dataset_changed(id, DatasetChange::FilesAttached);
    Ok(model)
}

#[tracing::instrument(skip(svc, caller))]
pub async fn detach_files(
    svc: &Services,
    caller: &Caller,
    id: Id<dataset::Entity>,
    file_ids: &[Id<file::Entity>],
) -> AppResult<dataset::Model> {
    let id = id.uuid();
    let file_ids = &crate::ids::uuids(file_ids)[..];
    let (model, _) = get_for(svc, caller, id, Action::AddData).await?;
    require_not_mirrored(&model)?;
    if file_ids.is_empty() {
        return Err(AppError::bad_input("name at least one file"));
    }
    dataset_file::Entity::delete_many()
        .filter(dataset_file::Column::DatasetId.eq(id))
        .filter(dataset_file::Column::FileId.is_in(file_ids.iter().copied()))
        .exec(&svc.db)
        .await?;
    svc.events.dataset_changed(id, DatasetChange::FilesDetached);
    Ok(model)
}

/// Moves files into the folder of a mirrored dataset, so every project linked
/// to it sees them and the projects of the datasets they left no longer do.
/// The caller needs add-data on the destination and, for each file, add-data
/// on a mirrored dataset backed by its folder (or ADMIN on that folder).
///
/// The rights are checked inside the write transaction, after the files are
/// locked (and the folders they leave, so their collaborators cannot change
/// meanwhile): of two people moving the same files at once, the second sees
/// where the first put them, and is refused (NOT_FOUND when the files went
/// where they cannot see them, FORBIDDEN when they see them but may not take
/// them from there).
#[tracing::instrument(skip(svc, caller))]
pub async fn move_files(
    svc: &Services,
    caller: &Caller,
    file_ids: &[Id<file::Entity>],
    to_dataset: Id<dataset::Entity>,
) -> AppResult<Vec<file::Model>> {
    let file_ids = &crate::ids::uuids(file_ids)[..];
    let to_dataset = to_dataset.uuid();
    let (dest, _) = get_for(svc, caller, to_dataset, Action::AddData).await?;
    let dest_folder = dest.folder_id.ok_or_else(|| {
        AppError::bad_input(
            "moveFiles needs a mirrored destination dataset (one backed by a folder)",
        )
    })?;
    if file_ids.is_empty() {
        return Err(AppError::bad_input("name at least one file"));
    }
    let ids = grants::dedup(file_ids);
    let txn = crate::service::tx::write(&svc.db).await?;
    // In one order, so that two moves of overlapping files cannot deadlock.
    // (SQLite ignores row locks: its write transaction already excludes
    // every other writer.)
    file::Entity::find()
        .select_only()
        .column(file::Column::Id)
        .filter(file::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(file::Column::Id)
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .all(&txn)
        .await?;
    let moving = files::require_visible_on(&txn, svc, caller, &ids, FileRoute::Any).await?;
    let left: Vec<Uuid> = grants::dedup(&moving.iter().map(|f| f.folder_id).collect::<Vec<_>>())
        .into_iter()
        .filter(|f| *f != dest_folder)
        .collect();
    folder::Entity::find()
        .select_only()
        .column(folder::Column::Id)
        .filter(folder::Column::Id.is_in(left.iter().copied()))
        .order_by_asc(folder::Column::Id)
        .lock_shared()
        .into_tuple::<Uuid>()
        .all(&txn)
        .await?;
    for source in &left {
        if !may_take_from_folder(&txn, svc, caller, *source).await? {
            let f = moving
                .iter()
                .find(|f| f.folder_id == *source)
                .expect("a folder some file is in");
            return Err(AppError::Forbidden(format!(
                "you are not allowed to move files out of the dataset holding {}",
                Id::<file::Entity>::new(f.id)
            )));
        }
    }
    let mut moved = Vec::with_capacity(moving.len());
    for f in moving {
        if f.folder_id == dest_folder {
            moved.push(f);
            continue;
        }
        let mut active = f.into_active_model();
        active.folder_id = Set(dest_folder);
        active.updated_at = Set(Utc::now());
        moved.push(active.update(&txn).await.map_err(|e| {
            AppError::on_unique(
                e,
                "the destination already holds a file with the same objectUrl",
            )
        })?);
    }
    audit::record(
        &txn,
        caller.id,
        AuditAction::FilesMove,
        Kind::Dataset,
        to_dataset,
        json!({ "fileIds": file_ids }),
    )
    .await?;
    txn.commit().await?;
    publish_moved(svc, dest_folder, &left).await;
    Ok(moved)
}

/// After a move into `to_folder` of files that were in `left_folders`:
/// FILES_MOVED_IN for the datasets mirroring the destination folder,
/// FILES_MOVED_OUT for those mirroring a folder the files left.
async fn publish_moved(svc: &Services, to_folder: Uuid, left_folders: &[Uuid]) {
    let left: Vec<Uuid> = grants::dedup(left_folders)
        .into_iter()
        .filter(|f| *f != to_folder)
        .collect();
    if left.is_empty() {
        return;
    }
    let mirrors: Result<Vec<(Uuid, Option<Uuid>)>, _> = dataset::Entity::find()
        .select_only()
        .column(dataset::Column::Id)
        .column(dataset::Column::FolderId)
        .filter(dataset::Column::FolderId.is_in(left.iter().copied().chain([to_folder])))
        .into_tuple()
        .all(&svc.db)
        .await;
    match mirrors {
        Ok(mirrors) => {
            for (dataset_id, folder) in mirrors {
                let change = if folder == Some(to_folder) {
                    DatasetChange::FilesMovedIn
                } else {
                    DatasetChange::FilesMovedOut
                };
                svc.events.dataset_changed(dataset_id, change);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot find the datasets a move changed"),
    }
}

async fn may_take_from_folder<C: ConnectionTrait>(
    db: &C,
    svc: &Services,
    caller: &Caller,
    folder: Uuid,
) -> AppResult<bool> {
    let folder_roles = access::roles_on(db, &svc.policy, Kind::Folder, folder, caller.id).await?;
    if svc
        .policy
        .any_allows(Kind::Folder, &folder_roles, Action::AddFiles)
    {
        return Ok(true);
    }
    let sources: Vec<Uuid> = dataset::Entity::find()
        .select_only()
        .column(dataset::Column::Id)
        .filter(dataset::Column::FolderId.eq(folder))
        .lock_shared()
        .into_tuple()
        .all(db)
        .await?;
    let roles = access::roles_on_many(db, &svc.policy, Kind::Dataset, &sources, caller.id).await?;
    Ok(roles
        .values()
        .any(|r| svc.policy.any_allows(Kind::Dataset, r, Action::AddData)))
}

/// A workspace ADMIN joins a dataset and receives the policy's join role.
#[tracing::instrument(skip(svc, caller))]
pub async fn join(
    svc: &Services,
    caller: &Caller,
    id: Id<dataset::Entity>,
) -> AppResult<dataset::Model> {
    let id = id.uuid();
    require_workspace(svc, caller, Action::JoinDataset).await?;
    let role = svc
        .policy
        .join_role()
        .ok_or_else(|| AppError::forbidden(Action::JoinDataset.describe()))?;
    let model = dataset::Entity::find_by_id(id)
        .one(&svc.db)
        .await?
        .ok_or_else(|| AppError::not_found("dataset"))?;
    let txn = crate::service::tx::write(&svc.db).await?;
    grants::upsert_user_role(&txn, Kind::Dataset, id, caller.id, role).await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::DatasetJoin,
        Kind::Dataset,
        id,
        json!({ "role": role }),
    )
    .await?;
    txn.commit().await?;
    svc.events
        .dataset_changed(id, DatasetChange::CollaboratorsChanged);
    Ok(model)
}

/// The projects using each dataset that the caller may see, in two statements.
pub async fn projects_of_many(
    svc: &Services,
    caller: &Caller,
    dataset_ids: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<project::Model>>> {
    let links: Vec<(Uuid, Uuid)> = project_dataset::Entity::find()
        .select_only()
        .column(project_dataset::Column::DatasetId)
        .column(project_dataset::Column::ProjectId)
        .filter(project_dataset::Column::DatasetId.is_in(dataset_ids.iter().copied()))
        .filter(
            access::granted_ids(svc, Kind::Project, Action::View, caller.id)
                .contains(project_dataset::Column::ProjectId),
        )
        .into_tuple()
        .all(&svc.db)
        .await?;
    let projects = if links.is_empty() {
        Vec::new()
    } else {
        project::Entity::find()
            .filter(project::Column::Id.is_in(links.iter().map(|(_, p)| *p)))
            .order_by_asc(project::Column::Id)
            .all(&svc.db)
            .await?
    };
    Ok(group_links(dataset_ids, &links, &projects, |p| p.id))
}

/// Groups `items` under each key by `(key, item id)` links, in item order.
pub fn group_links<M: Clone>(
    keys: &[Uuid],
    links: &[(Uuid, Uuid)],
    items: &[M],
    id: impl Fn(&M) -> Uuid,
) -> HashMap<Uuid, Vec<M>> {
    let mut out: HashMap<Uuid, Vec<M>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for item in items {
        let item_id = id(item);
        for (key, _) in links.iter().filter(|(_, linked)| *linked == item_id) {
            out.entry(*key).or_default().push(item.clone());
        }
    }
    out
}
