//! The audit trail: who changed a permission or deleted what, and when.

use chrono::Utc;
use entity::audit_event;
use entity::enums::AuditAction;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::error::AppResult;
use crate::ids::Id;
use crate::policy::Kind;

/// Records one event inside the caller's transaction.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    actor: Uuid,
    action: AuditAction,
    kind: Kind,
    resource_id: Uuid,
    details: serde_json::Value,
) -> AppResult<()> {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor_id: Set(Some(actor)),
        action: Set(action),
        resource_type: Set(kind),
        resource_id: Set(Some(resource_id)),
        details: Set(Some(details)),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The audit log, newest last, optionally for one resource (workspace ADMINs).
pub async fn list(
    svc: &crate::service::Services,
    caller: &crate::auth::Caller,
    resource_id: Option<Uuid>,
    page: crate::service::page::PageArgs,
) -> AppResult<crate::service::page::Page<audit_event::Model>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    crate::service::users::require_workspace(svc, caller, crate::policy::Action::ViewAuditLog)
        .await?;
    let mut query = audit_event::Entity::find();
    if let Some(id) = resource_id {
        query = query.filter(audit_event::Column::ResourceId.eq(id));
    }
    crate::service::page::paginate(
        &svc.db,
        query,
        crate::sort_keys!(audit_event, Action, action),
        page,
    )
    .await
}

/// One audit event (workspace ADMINs).
pub async fn get(
    svc: &crate::service::Services,
    caller: &crate::auth::Caller,
    id: Id<audit_event::Entity>,
) -> AppResult<audit_event::Model> {
    let id = id.uuid();
    use sea_orm::EntityTrait;
    crate::service::users::require_workspace(svc, caller, crate::policy::Action::ViewAuditLog)
        .await
        .map_err(|_| crate::error::AppError::not_found("audit event"))?;
    audit_event::Entity::find_by_id(id)
        .one(&svc.db)
        .await?
        .ok_or_else(|| crate::error::AppError::not_found("audit event"))
}
