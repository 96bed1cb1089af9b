//! The audit trail: who changed a permission or deleted what, and when.

use chrono::Utc;
use entity::audit_event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::error::AppResult;
use crate::policy::Kind;

/// Records one event inside the caller's transaction.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    actor: Uuid,
    action: &str,
    kind: Kind,
    resource_id: Uuid,
    details: serde_json::Value,
) -> AppResult<()> {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor_id: Set(Some(actor)),
        action: Set(action.to_owned()),
        resource_type: Set(kind.as_str().to_owned()),
        resource_id: Set(Some(resource_id)),
        details: Set(Some(details)),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
