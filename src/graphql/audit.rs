//! The audit log: permission changes, joins and deletes.

use async_graphql::{Context, Json, Object, Result, ID};
use chrono::{DateTime, Utc};
use entity::audit_event;

use super::loaders::UserField;
use super::user::User;
use super::{connection, global_id, loaders, scope};
use crate::ids::{self, AnyId};
use crate::service::audit;

/// Who did what to which resource, and when.
pub struct AuditEvent(pub audit_event::Model);

#[Object]
impl AuditEvent {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::audit_event::Entity>(self.0.id)
    }
    /// What happened, e.g. `grant.add`, `dataset.join`, `dataset.delete`.
    async fn action(&self) -> &str {
        self.0.action.as_str()
    }
    /// The kind of resource: dataset, project, ontology, folder, integration, group, workspace.
    async fn resource_type(&self) -> &str {
        self.0.resource_type.as_str()
    }
    /// The resource's global ID (it may no longer exist).
    async fn resource_id(&self) -> Option<ID> {
        let kind = self.0.resource_type;
        self.0.resource_id.map(|id| ID(ids::of_kind(kind, id)))
    }
    /// Who did it.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .user(UserField::AuditActor, self.0.actor_id)
            .await?
            .map(User))
    }
    /// Details of the change (roles, grantees, titles).
    async fn details(&self) -> Option<Json<&serde_json::Value>> {
        self.0.details.as_ref().map(Json)
    }
    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct AuditQuery;

crate::query_object! {
    impl AuditQuery {
        paged {
            /// The audit log, oldest first (workspace ADMINs only).
            fn audit_events(
                ctx,
                #[graphql(desc = "Only events about this resource.")] resource_id: Option<ID>,
                ..page,
            ) -> AuditEvent {
                let (svc, caller) = scope(ctx)?;
                let resource = match &resource_id {
                    Some(id) => Some(
                        crate::ids::AnyId::decode(id.as_str())
                            .map(AnyId::uuid)
                            .ok_or_else(|| {
                                crate::error::AppError::bad_input("resourceId is not a valid global ID")
                            })?,
                    ),
                    None => None,
                };
                let page = audit::list(
                    svc,
                    caller,
                    resource,
                    page,
                )
                .await?;
                Ok(connection(page, AuditEvent))
            }
        }
    }
}
