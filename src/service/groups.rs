//! Groups and memberships. Groups are visible to every workspace member (to
//! pick collaborators); workspace ADMINs create and delete them; they and the
//! group's MANAGERs manage its memberships.

use chrono::Utc;
use entity::enums::AuditAction;
use entity::{group, group_membership, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::policy::{Action, Kind, Role};
use crate::service::grants::dedup;
use crate::service::input::{
    contains_ci, optional_text, required_text, search_term, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::service::page::{paginate, Page, PageArgs};
use crate::service::users::{require_all, require_directory, require_workspace};
use crate::service::{audit, Services};

pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: Id<group::Entity>,
) -> AppResult<group::Model> {
    let id = id.uuid();
    require_directory(svc, caller).await?;
    group::Entity::find_by_id(id)
        .one(&svc.db)
        .await?
        .ok_or_else(|| AppError::not_found("group"))
}

pub async fn list(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    page: PageArgs,
) -> AppResult<Page<group::Model>> {
    require_directory(svc, caller).await?;
    let mut query = group::Entity::find();
    if let Some(term) = search_term(search) {
        query = query.filter(contains_ci(group::Column::Name, term));
    }
    paginate(&svc.db, query, crate::sort_keys!(group, Name, name), page).await
}

#[tracing::instrument(skip(svc, caller))]
pub async fn create(
    svc: &Services,
    caller: &Caller,
    name: &str,
    description: Option<&str>,
) -> AppResult<group::Model> {
    require_workspace(svc, caller, Action::ManageGroups).await?;
    let name = required_text("name", name, TITLE_MAX)?;
    let description = optional_text("description", description, DESCRIPTION_MAX)?;
    let now = Utc::now();
    let txn = crate::service::tx::write(&svc.db).await?;
    let created = group::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        description: Set(description),
        created_by: Set(Some(caller.id)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| AppError::on_unique(e, "a group with this name already exists"))?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::GroupCreate,
        Kind::Group,
        created.id,
        json!({ "name": created.name }),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

#[tracing::instrument(skip(svc, caller))]
pub async fn update(
    svc: &Services,
    caller: &Caller,
    id: Id<group::Entity>,
    name: Option<&str>,
    description: Option<&str>,
) -> AppResult<group::Model> {
    let id = id.uuid();
    let existing = get(svc, caller, Id::new(id)).await?;
    require_workspace(svc, caller, Action::ManageGroups).await?;
    let mut active = existing.into_active_model();
    if let Some(name) = name {
        active.name = Set(required_text("name", name, TITLE_MAX)?);
    }
    if description.is_some() {
        active.description = Set(optional_text("description", description, DESCRIPTION_MAX)?);
    }
    active.updated_at = Set(Utc::now());
    active
        .update(&svc.db)
        .await
        .map_err(|e| AppError::on_unique(e, "a group with this name already exists"))
}

#[tracing::instrument(skip(svc, caller))]
pub async fn delete(svc: &Services, caller: &Caller, id: Id<group::Entity>) -> AppResult<Uuid> {
    let id = id.uuid();
    let existing = get(svc, caller, Id::new(id)).await?;
    require_workspace(svc, caller, Action::ManageGroups).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    // Memberships and the group's grants go with it (foreign keys cascade).
    group::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::GroupDelete,
        Kind::Group,
        id,
        json!({ "name": existing.name }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// In what capacity the caller manages a group's memberships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manager {
    /// A workspace ADMIN: every membership, their own included.
    Workspace,
    /// A MANAGER of the group: other users' plain memberships only.
    Group,
}

/// Workspace ADMINs, and MANAGERs of the group, manage its memberships.
async fn require_manage_members<C: ConnectionTrait>(
    db: &C,
    svc: &Services,
    caller: &Caller,
    group_id: Uuid,
) -> AppResult<Manager> {
    let role = crate::service::users::workspace_role_on(db, svc, caller).await?;
    if svc
        .policy
        .allows(Kind::Workspace, role, Action::ManageGroups)
    {
        return Ok(Manager::Workspace);
    }
    let membership = group_membership::Entity::find_by_id((group_id, caller.id))
        .one(db)
        .await?;
    match membership {
        Some(m) if manages(svc, m.role) => Ok(Manager::Group),
        _ => Err(AppError::forbidden(Action::ManageMembers.describe())),
    }
}

/// Whether a membership role manages the group (per the policy: MANAGER).
fn manages(svc: &Services, role: Role) -> bool {
    svc.policy.allows(Kind::Group, role, Action::ManageMembers)
}

/// What a group MANAGER may not do to a membership: their own (a manager
/// who made themselves a MEMBER would inherit the group's grants, which the
/// members-only rule withholds from managers), another manager's, or make
/// anyone a manager. Workspace ADMINs may.
fn require_plain_membership(
    svc: &Services,
    caller: &Caller,
    user_id: Uuid,
    current: Option<Role>,
    new_role: Option<Role>,
) -> AppResult<()> {
    if user_id == caller.id {
        return Err(AppError::Forbidden(
            "a group MANAGER cannot change their own membership; ask a workspace ADMIN".into(),
        ));
    }
    if current.is_some_and(|role| manages(svc, role)) {
        return Err(AppError::Forbidden(
            "only a workspace ADMIN changes or removes another MANAGER of the group".into(),
        ));
    }
    if new_role.is_some_and(|role| manages(svc, role)) {
        return Err(AppError::Forbidden(
            "only a workspace ADMIN makes someone a MANAGER of the group".into(),
        ));
    }
    Ok(())
}

/// Adds users to a group with `role`, or changes the role of existing
/// members. A group MANAGER adds and changes plain members other than
/// themselves; workspace ADMINs change any membership.
#[tracing::instrument(skip(svc, caller))]
pub async fn add_members(
    svc: &Services,
    caller: &Caller,
    group_id: Id<group::Entity>,
    user_ids: &[Id<user::Entity>],
    role: Role,
) -> AppResult<group::Model> {
    let group_id = group_id.uuid();
    let user_ids = &crate::ids::uuids(user_ids)[..];
    let group = get(svc, caller, Id::new(group_id)).await?;
    let role = crate::service::grants::validate_role(Kind::Group, role)?;
    if user_ids.is_empty() {
        return Err(AppError::bad_input("name at least one user"));
    }
    let user_ids = dedup(user_ids);
    let txn = crate::service::tx::write(&svc.db).await?;
    let manager = require_manage_members(&txn, svc, caller, group_id).await?;
    require_all(&txn, &user_ids).await?;
    let demotes = !manages(svc, role);
    let mut demoted_a_manager = false;
    for user_id in user_ids {
        let existing = group_membership::Entity::find_by_id((group_id, user_id))
            .one(&txn)
            .await?;
        demoted_a_manager |= demotes && existing.as_ref().is_some_and(|m| manages(svc, m.role));
        if manager == Manager::Group {
            require_plain_membership(
                svc,
                caller,
                user_id,
                existing.as_ref().map(|m| m.role),
                Some(role),
            )?;
        }
        match existing {
            Some(existing) if existing.role == role => continue,
            Some(existing) => {
                let mut active = existing.into_active_model();
                active.role = Set(role);
                active.update(&txn).await?;
            }
            None => {
                group_membership::ActiveModel {
                    group_id: Set(group_id),
                    user_id: Set(user_id),
                    role: Set(role),
                    created_at: Set(Utc::now()),
                }
                .insert(&txn)
                .await?;
            }
        }
        audit::record(
            &txn,
            caller.id,
            AuditAction::GroupMemberSet,
            Kind::Group,
            group_id,
            json!({ "userId": user_id, "role": role }),
        )
        .await?;
    }
    // As with removing: a group keeps at least one MANAGER once it has had
    // one, so nobody is left to manage its memberships but workspace ADMINs.
    if demoted_a_manager && managers_of(&txn, svc, group_id).await? == 0 {
        return Err(AppError::conflict(
            "this would leave the group without a MANAGER: make someone else MANAGER first",
        ));
    }
    txn.commit().await?;
    Ok(group)
}

/// MANAGERs of a group, as `db` (the write transaction) sees them.
async fn managers_of(
    db: &impl ConnectionTrait,
    svc: &Services,
    group_id: Uuid,
) -> AppResult<usize> {
    let roles: Vec<Role> = group_membership::Entity::find()
        .select_only()
        .column(group_membership::Column::Role)
        .filter(group_membership::Column::GroupId.eq(group_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(roles.into_iter().filter(|r| manages(svc, *r)).count())
}

/// Removes a user from a group. A group MANAGER removes plain members, or
/// leaves the group themselves; nobody removes the group's last MANAGER
/// (CONFLICT).
#[tracing::instrument(skip(svc, caller))]
pub async fn remove_member(
    svc: &Services,
    caller: &Caller,
    group_id: Id<group::Entity>,
    user_id: Id<user::Entity>,
) -> AppResult<group::Model> {
    let group_id = group_id.uuid();
    let user_id = user_id.uuid();
    let group = get(svc, caller, Id::new(group_id)).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    let manager = require_manage_members(&txn, svc, caller, group_id).await?;
    let target = group_membership::Entity::find_by_id((group_id, user_id))
        .one(&txn)
        .await?;
    let Some(target) = target else {
        return Err(AppError::NotFound(
            "that user is not a member of this group".into(),
        ));
    };
    let target_manages = manages(svc, target.role);
    // Leaving is the one change a MANAGER may make to their own membership:
    // it only takes rights away.
    if manager == Manager::Group && user_id != caller.id {
        require_plain_membership(svc, caller, user_id, Some(target.role), None)?;
    }
    if target_manages && managers_of(&txn, svc, group_id).await? == 1 {
        return Err(AppError::conflict(
            "this is the group's last MANAGER: make someone else MANAGER before removing them",
        ));
    }
    group_membership::Entity::delete_by_id((group_id, user_id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::GroupMemberRemove,
        Kind::Group,
        group_id,
        json!({ "userId": user_id }),
    )
    .await?;
    txn.commit().await?;
    Ok(group)
}

/// The memberships of each group, oldest first, in one statement.
pub async fn members_many(
    svc: &Services,
    group_ids: &[Uuid],
) -> AppResult<std::collections::HashMap<Uuid, Vec<group_membership::Model>>> {
    let found = group_membership::Entity::find()
        .filter(group_membership::Column::GroupId.is_in(group_ids.iter().copied()))
        .order_by_asc(group_membership::Column::CreatedAt)
        .all(&svc.db)
        .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<group_membership::Model>> =
        group_ids.iter().map(|id| (*id, Vec::new())).collect();
    for m in found {
        out.entry(m.group_id).or_default().push(m);
    }
    Ok(out)
}

/// Groups by id (groups are visible to every member).
pub async fn by_ids(svc: &Services, ids: &[Uuid]) -> AppResult<Vec<group::Model>> {
    Ok(group::Entity::find()
        .filter(group::Column::Id.is_in(ids.iter().copied()))
        .all(&svc.db)
        .await?)
}
