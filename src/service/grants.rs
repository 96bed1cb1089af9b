//! Collaborators: role grants on datasets, projects, ontologies and folders,
//! to users or groups. One implementation serves every kind; the policy says
//! who may change them.

use chrono::Utc;
use entity::{group, role_grant, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::events::DatasetChange;
use crate::ids::{Id, Shared};
use crate::policy::{Action, Kind, KindRules, Role};
use crate::service::access::{self, Access};
use crate::service::{audit, users, Services};
use entity::enums::AuditAction;

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantee {
    User(Uuid),
    Group(Uuid),
}

impl Grantee {
    fn condition(self) -> sea_orm::Condition {
        match self {
            Grantee::User(id) => sea_orm::Condition::all().add(role_grant::Column::UserId.eq(id)),
            Grantee::Group(id) => sea_orm::Condition::all().add(role_grant::Column::GroupId.eq(id)),
        }
    }

    fn describe(self) -> String {
        match self {
            Grantee::User(id) => format!("user {}", Id::<user::Entity>::new(id)),
            Grantee::Group(id) => format!("group {}", Id::<group::Entity>::new(id)),
        }
    }
}

/// The action that lets a caller manage collaborators on `kind`.
fn manage_action(kind: Kind) -> Action {
    match kind {
        Kind::Dataset => Action::AdjustSettings,
        _ => Action::ManageCollaborators,
    }
}

/// Checks the caller may grant, change or revoke `role` on the resource.
/// Kinds with a separate `manage_admins` action (projects) need it whenever
/// the ADMIN role is involved.
fn require_manage(svc: &Services, access: &Access, roles_involved: &[Role]) -> AppResult<()> {
    access.require(&svc.policy, manage_action(access.kind))?;
    let admins_separate = access.kind.actions().contains(&Action::ManageAdmins);
    if admins_separate && roles_involved.contains(&Role::Admin) {
        access.require(&svc.policy, Action::ManageAdmins)?;
    }
    Ok(())
}

pub fn validate_role(kind: Kind, role: Role) -> AppResult<Role> {
    if kind.roles().contains(&role) {
        return Ok(role);
    }
    let expected: Vec<&str> = kind.roles().iter().map(|r| r.as_str()).collect();
    Err(AppError::bad_input(format!(
        "{role} is not a {kind} role (expected one of {})",
        expected.join(", ")
    )))
}

/// Inserts a grant without any permission check (creators, joins).
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    resource_id: Uuid,
    grantee: Grantee,
    role: Role,
    created_by: Uuid,
) -> AppResult<role_grant::Model> {
    let (user_id, group_id) = match grantee {
        Grantee::User(id) => (Some(id), None),
        Grantee::Group(id) => (None, Some(id)),
    };
    role_grant::ActiveModel {
        id: Set(Uuid::now_v7()),
        resource_type: Set(kind),
        resource_id: Set(resource_id),
        user_id: Set(user_id),
        group_id: Set(group_id),
        role: Set(role),
        created_by: Set(Some(created_by)),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| {
        AppError::on_unique(
            e,
            &format!(
                "{} is already a collaborator; change their role instead",
                grantee.describe()
            ),
        )
    })
}

/// Inserts a new shared resource and makes its creator its ADMIN, on `db`
/// (the creation's write transaction, which may hold more of it).
/// `on_insert` names what a failed insert means (a unique name taken…).
pub async fn insert_owned<A, C>(
    db: &C,
    caller: &Caller,
    row: A,
    on_insert: impl FnOnce(sea_orm::DbErr) -> AppError,
) -> AppResult<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    A::Entity: Shared,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    C: ConnectionTrait,
{
    let created = row.insert(db).await.map_err(on_insert)?;
    let id = <A::Entity as Shared>::id_of(&created);
    insert(
        db,
        <A::Entity as Shared>::KIND,
        id,
        Grantee::User(caller.id),
        Role::Admin,
        caller.id,
    )
    .await?;
    Ok(created)
}

/// Creates a shared resource from a validated row: inserts it and makes its
/// creator its ADMIN, in one write transaction.
pub async fn create_owned<A>(
    svc: &Services,
    caller: &Caller,
    row: A,
    on_insert: impl FnOnce(sea_orm::DbErr) -> AppError,
) -> AppResult<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    A::Entity: Shared,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let txn = crate::service::tx::write(&svc.db).await?;
    let created = insert_owned(&txn, caller, row, on_insert).await?;
    txn.commit().await?;
    Ok(created)
}

/// The grants on one resource, oldest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    resource_id: Uuid,
) -> AppResult<Vec<role_grant::Model>> {
    Ok(role_grant::Entity::find()
        .filter(role_grant::Column::ResourceType.eq(kind.as_str()))
        .filter(role_grant::Column::ResourceId.eq(resource_id))
        .order_by_asc(role_grant::Column::Id)
        .all(db)
        .await?)
}

/// The grants on each of several resources, in one statement.
pub async fn list_many<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    resource_ids: &[Uuid],
) -> AppResult<std::collections::HashMap<Uuid, Vec<role_grant::Model>>> {
    let found = role_grant::Entity::find()
        .filter(role_grant::Column::ResourceType.eq(kind.as_str()))
        .filter(role_grant::Column::ResourceId.is_in(resource_ids.iter().copied()))
        .order_by_asc(role_grant::Column::Id)
        .all(db)
        .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<role_grant::Model>> =
        resource_ids.iter().map(|id| (*id, Vec::new())).collect();
    for grant in found {
        out.entry(grant.resource_id).or_default().push(grant);
    }
    Ok(out)
}

/// Removes every grant on a deleted resource.
pub async fn delete_all<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    resource_id: Uuid,
) -> AppResult<()> {
    role_grant::Entity::delete_many()
        .filter(role_grant::Column::ResourceType.eq(kind.as_str()))
        .filter(role_grant::Column::ResourceId.eq(resource_id))
        .exec(db)
        .await?;
    Ok(())
}

async fn find<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    resource_id: Uuid,
    grantee: Grantee,
) -> AppResult<Option<role_grant::Model>> {
    Ok(role_grant::Entity::find()
        .filter(role_grant::Column::ResourceType.eq(kind.as_str()))
        .filter(role_grant::Column::ResourceId.eq(resource_id))
        .filter(grantee.condition())
        .one(db)
        .await?)
}

/// Takes the write lock on the resource row for the rest of the transaction,
/// so that changes to its collaborators happen one after the other: two
/// ADMINs removing each other at once would otherwise each count the other
/// as the ADMIN left (write skew). A no-op UPDATE locks the row on
/// PostgreSQL and, as the transaction's first statement, takes SQLite's
/// database write lock too; the ADMIN count that follows then sees every
/// change committed before it.
pub async fn lock_resource<C: ConnectionTrait>(db: &C, kind: Kind, id: Uuid) -> AppResult<()> {
    let table = match kind {
        Kind::Dataset => "datasets",
        Kind::Project => "projects",
        Kind::Ontology => "ontologies",
        Kind::Folder => "folders",
        Kind::Integration => "integrations",
        Kind::Group => "groups",
        Kind::Workspace => return Ok(()),
    };
    let backend = db.get_database_backend();
    let placeholder = match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    };
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        format!("UPDATE {table} SET updated_at = updated_at WHERE id = {placeholder}"),
        [id.into()],
    ))
    .await?;
    Ok(())
}

/// A resource keeps at least one user holding ADMIN directly, so that it can
/// always be managed.
async fn ensure_admin_remains<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    resource_id: Uuid,
) -> AppResult<()> {
    let admins = role_grant::Entity::find()
        .filter(role_grant::Column::ResourceType.eq(kind.as_str()))
        .filter(role_grant::Column::ResourceId.eq(resource_id))
        .filter(role_grant::Column::Role.eq(Role::Admin))
        .filter(role_grant::Column::UserId.is_not_null())
        .count(db)
        .await?;
    if admins == 0 {
        return Err(AppError::conflict(format!(
            "the {} would have no ADMIN left; grant ADMIN to someone else first",
            kind.as_str()
        )));
    }
    Ok(())
}

/// Grants `role` to each of the users and groups (all or nothing).
#[tracing::instrument(skip(svc, caller, access))]
pub async fn add(
    svc: &Services,
    caller: &Caller,
    access: &Access,
    resource_id: Uuid,
    user_ids: &[Uuid],
    group_ids: &[Uuid],
    role: Role,
) -> AppResult<()> {
    let kind = access.kind;
    let role = validate_role(kind, role)?;
    require_manage(svc, access, &[role])?;
    if user_ids.is_empty() && group_ids.is_empty() {
        return Err(AppError::bad_input("name at least one user or group"));
    }
    let user_ids = dedup(user_ids);
    let group_ids = dedup(group_ids);
    let txn = crate::service::tx::write(&svc.db).await?;
    lock_resource(&txn, kind, resource_id).await?;
    let access = visible_access_on(&txn, svc, caller, kind, resource_id, kind.as_str()).await?;
    require_manage(svc, &access, &[role])?;
    users::require_all(&txn, &user_ids).await?;
    require_groups(&txn, &group_ids).await?;
    let grantees = user_ids
        .iter()
        .map(|id| Grantee::User(*id))
        .chain(group_ids.iter().map(|id| Grantee::Group(*id)));
    for grantee in grantees {
        insert(&txn, kind, resource_id, grantee, role, caller.id).await?;
        audit::record(
            &txn,
            caller.id,
            AuditAction::GrantAdd,
            kind,
            resource_id,
            details(grantee, Some(role)),
        )
        .await?;
    }
    txn.commit().await?;
    collaborators_changed(svc, kind, resource_id);
    Ok(())
}

/// Changes the role of an existing collaborator.
#[tracing::instrument(skip(svc, caller, access))]
pub async fn set_role(
    svc: &Services,
    caller: &Caller,
    access: &Access,
    resource_id: Uuid,
    grantee: Grantee,
    role: Role,
) -> AppResult<()> {
    let kind = access.kind;
    let role = validate_role(kind, role)?;
    let txn = crate::service::tx::write(&svc.db).await?;
    lock_resource(&txn, kind, resource_id).await?;
    let access = &visible_access_on(&txn, svc, caller, kind, resource_id, kind.as_str()).await?;
    let grant = find(&txn, kind, resource_id, grantee)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!("{} is not a collaborator", grantee.describe()))
        })?;
    require_manage(svc, access, &[role, grant.role])?;
    let previous = grant.role;
    let mut active = grant.into_active_model();
    active.role = Set(role);
    active.update(&txn).await?;
    ensure_admin_remains(&txn, kind, resource_id).await?;
    let mut d = details(grantee, Some(role));
    d["previousRole"] = json!(previous);
    audit::record(
        &txn,
        caller.id,
        AuditAction::GrantChange,
        kind,
        resource_id,
        d,
    )
    .await?;
    txn.commit().await?;
    collaborators_changed(svc, kind, resource_id);
    Ok(())
}

/// Revokes a collaborator's grant.
#[tracing::instrument(skip(svc, caller, access))]
pub async fn remove(
    svc: &Services,
    caller: &Caller,
    access: &Access,
    resource_id: Uuid,
    grantee: Grantee,
) -> AppResult<()> {
    let kind = access.kind;
    let txn = crate::service::tx::write(&svc.db).await?;
    lock_resource(&txn, kind, resource_id).await?;
    let access = &visible_access_on(&txn, svc, caller, kind, resource_id, kind.as_str()).await?;
    let grant = find(&txn, kind, resource_id, grantee)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!("{} is not a collaborator", grantee.describe()))
        })?;
    require_manage(svc, access, &[grant.role])?;
    let role = grant.role;
    role_grant::Entity::delete_by_id(grant.id)
        .exec(&txn)
        .await?;
    ensure_admin_remains(&txn, kind, resource_id).await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::GrantRemove,
        kind,
        resource_id,
        details(grantee, Some(role)),
    )
    .await?;
    txn.commit().await?;
    collaborators_changed(svc, kind, resource_id);
    Ok(())
}

/// Tells subscribers that a dataset's collaborators changed.
fn collaborators_changed(svc: &Services, kind: Kind, resource_id: Uuid) {
    if kind == Kind::Dataset {
        svc.events
            .dataset_changed(resource_id, DatasetChange::CollaboratorsChanged);
    }
}

/// Grants `role` to `user` or raises an existing grant to it (joining).
pub async fn upsert_user_role<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    resource_id: Uuid,
    user: Uuid,
    role: Role,
) -> AppResult<()> {
    match find(db, kind, resource_id, Grantee::User(user)).await? {
        Some(grant) => {
            let mut active = grant.into_active_model();
            active.role = Set(role);
            active.update(db).await?;
        }
        None => {
            insert(db, kind, resource_id, Grantee::User(user), role, user).await?;
        }
    }
    Ok(())
}

/// The ids in their first order, each once.
pub fn dedup(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

fn details(grantee: Grantee, role: Option<Role>) -> serde_json::Value {
    match grantee {
        Grantee::User(id) => json!({ "userId": id, "role": role }),
        Grantee::Group(id) => json!({ "groupId": id, "role": role }),
    }
}

async fn require_groups<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> AppResult<()> {
    let found = group::Entity::find()
        .filter(group::Column::Id.is_in(ids.iter().copied()))
        .count(db)
        .await?;
    if found as usize != ids.len() {
        for id in ids {
            if group::Entity::find_by_id(*id).one(db).await?.is_none() {
                return Err(AppError::NotFound(format!(
                    "group {} not found",
                    Id::<group::Entity>::new(*id)
                )));
            }
        }
    }
    Ok(())
}

/// A resource of `kind` the caller may see, with what they may do to it;
/// NOT_FOUND (named `what`) when it is missing or hidden.
pub async fn visible<E>(
    svc: &Services,
    caller: &Caller,
    kind: Kind,
    id: Uuid,
    what: &str,
) -> AppResult<(E::Model, Access)>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    // Both at once, on two connections: one round trip's time instead of
    // two. Both run to the end (no statement is cut off), the access is
    // judged first, and a hidden resource takes the same statements as a
    // visible one.
    let (access, model) = tokio::join!(
        visible_access(svc, caller, kind, id, what),
        by_id::<E>(svc, id, what),
    );
    let access = access?;
    Ok((model?, access))
}

/// A resource by id, without a permission check (after a change the caller
/// was allowed to make); NOT_FOUND (named `what`) when it is gone.
pub async fn by_id<E>(svc: &Services, id: Uuid, what: &str) -> AppResult<E::Model>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    E::find_by_id(id)
        .one(&svc.db)
        .await?
        .ok_or_else(|| AppError::not_found(what))
}

/// Like `visible`, and FORBIDDEN unless the caller may do `action`.
pub async fn visible_for<E>(
    svc: &Services,
    caller: &Caller,
    kind: Kind,
    id: Uuid,
    what: &str,
    action: Action,
) -> AppResult<(E::Model, Access)>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    let (model, access) = visible::<E>(svc, caller, kind, id, what).await?;
    access.require(&svc.policy, action)?;
    Ok((model, access))
}

/// The caller's access to a resource they must be able to see; NOT_FOUND
/// (named `what`) when it is missing or hidden.
pub async fn visible_access(
    svc: &Services,
    caller: &Caller,
    kind: Kind,
    resource_id: Uuid,
    what: &str,
) -> AppResult<Access> {
    visible_access_on(&svc.db, svc, caller, kind, resource_id, what).await
}

/// `visible_access` as `db` sees it. A change of collaborators asks again
/// inside its write transaction, once the resource is locked: a role revoked
/// while the request was on its way (or waiting for the lock) no longer
/// counts, and a resource gone out of sight since is NOT_FOUND.
async fn visible_access_on(
    db: &impl ConnectionTrait,
    svc: &Services,
    caller: &Caller,
    kind: Kind,
    resource_id: Uuid,
    what: &str,
) -> AppResult<Access> {
    let access = access::access(db, &svc.policy, kind, resource_id, caller.id).await?;
    if !access.visible(&svc.policy) {
        return Err(AppError::not_found(what));
    }
    Ok(access)
}
