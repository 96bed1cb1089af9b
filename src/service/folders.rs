//! Folders of the workspace's storage. USER sees a folder and its files;
//! ADMIN adds files and sub-folders, renames, shares and deletes it.

use chrono::Utc;
use entity::enums::AuditAction;
use entity::{dataset, file, folder};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::policy::{Action, Kind};
use crate::service::access::{granted_ids, Access};
use crate::service::grants;
use crate::service::input::{contains_ci, required_text, search_term, TITLE_MAX};
use crate::service::page::{paginate_visible, Page, PageArgs};
use crate::service::users::require_workspace;
use crate::service::{audit, Services};

/// The folder, if the caller may see it, with what they may do to it.
pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: Id<folder::Entity>,
) -> AppResult<(folder::Model, Access)> {
    let id = id.uuid();
    grants::visible::<folder::Entity>(svc, caller, Kind::Folder, id, "folder").await
}

/// Like `get`, and FORBIDDEN unless the caller may do `action`.
pub async fn get_for(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> AppResult<(folder::Model, Access)> {
    grants::visible_for::<folder::Entity>(svc, caller, Kind::Folder, id, "folder", action).await
}

pub async fn list(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    page: PageArgs,
) -> AppResult<Page<folder::Model>> {
    let mut query = folder::Entity::find().filter(
        granted_ids(svc, Kind::Folder, Action::View, caller.id).contains(folder::Column::Id),
    );
    if let Some(term) = search_term(search) {
        query = query.filter(contains_ci(folder::Column::Name, term));
    }
    paginate_visible(&svc.db, query, crate::sort_keys!(folder, Name, name), page).await
}

#[tracing::instrument(skip(svc, caller))]
pub async fn create(
    svc: &Services,
    caller: &Caller,
    name: &str,
    parent_id: Option<Id<folder::Entity>>,
) -> AppResult<folder::Model> {
    let parent_id = parent_id.map(Id::uuid);
    require_workspace(svc, caller, Action::CreateResources).await?;
    let name = folder_name(name)?;
    if let Some(parent) = parent_id {
        get_for(svc, caller, parent, Action::AddFiles).await?;
    }
    let now = Utc::now();
    let row = folder::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.clone()),
        parent_id: Set(parent_id),
        created_by: Set(Some(caller.id)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    grants::create_owned(svc, caller, row, |e| name_taken(e, &name)).await
}

#[tracing::instrument(skip(svc, caller))]
pub async fn rename(
    svc: &Services,
    caller: &Caller,
    id: Id<folder::Entity>,
    name: &str,
) -> AppResult<folder::Model> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::Edit).await?;
    let name = folder_name(name)?;
    let mut active = existing.into_active_model();
    active.name = Set(name.clone());
    active.updated_at = Set(Utc::now());
    let updated = active
        .update(&svc.db)
        .await
        .map_err(|e| name_taken(e, &name))?;
    Ok(updated)
}

/// Deletes an empty folder: CONFLICT while it holds files or sub-folders or
/// backs a mirrored dataset.
#[tracing::instrument(skip(svc, caller))]
pub async fn delete(svc: &Services, caller: &Caller, id: Id<folder::Entity>) -> AppResult<Uuid> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::Delete).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    if file::Entity::find()
        .filter(file::Column::FolderId.eq(id))
        .count(&txn)
        .await?
        > 0
    {
        return Err(AppError::conflict("the folder still holds files"));
    }
    if folder::Entity::find()
        .filter(folder::Column::ParentId.eq(id))
        .count(&txn)
        .await?
        > 0
    {
        return Err(AppError::conflict("the folder still holds folders"));
    }
    if dataset::Entity::find()
        .filter(dataset::Column::FolderId.eq(id))
        .count(&txn)
        .await?
        > 0
    {
        return Err(AppError::conflict("the folder backs a mirrored dataset"));
    }
    grants::delete_all(&txn, Kind::Folder, id).await?;
    folder::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::FolderDelete,
        Kind::Folder,
        id,
        json!({ "name": existing.name }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// The folders among `ids` that the caller may see, in one statement.
pub async fn visible_by_ids(
    svc: &Services,
    caller: &Caller,
    ids: &[Uuid],
) -> AppResult<Vec<folder::Model>> {
    Ok(folder::Entity::find()
        .filter(folder::Column::Id.is_in(ids.iter().copied()))
        .filter(
            granted_ids(svc, Kind::Folder, Action::View, caller.id).contains(folder::Column::Id),
        )
        .all(&svc.db)
        .await?)
}

fn folder_name(name: &str) -> AppResult<String> {
    let name = required_text("name", name, TITLE_MAX)?;
    if name.contains('/') {
        return Err(AppError::bad_input("a folder name cannot contain '/'"));
    }
    Ok(name)
}

/// Sibling names are unique by two indexes (see the migration
/// `unique_folder_names`), compared exactly; checking first and inserting
/// after would let two people creating one name at once both pass the check.
fn name_taken(err: sea_orm::DbErr, name: &str) -> AppError {
    AppError::on_unique(err, &format!("a folder named {name:?} already exists here"))
}
