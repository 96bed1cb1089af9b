//! One way to define the GraphQL type of a shared resource (datasets,
//! projects, ontologies, folders, integrations): its row and the caller's
//! access to it, computed once and only when a field asks.
//!
//! A resource may be reached without view access (a workspace ADMIN listing
//! datasets they have not joined, a payload after the caller gave up their
//! own role), so summary fields answer from the row alone, while contents
//! and `myRole`/`viewerCan` ask [`Guarded::access`]: known already when the
//! resource was loaded through a permission check, else loaded per caller
//! and batched by the request's loaders. Each kind writes only its fields
//! (`pub type Dataset = Guarded<dataset::Entity>`, then `#[Object] impl Dataset`).

use async_graphql::{Context, ID};
use sea_orm::PrimaryKeyTrait;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{loaders, parse_id, scope};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::ids::{Id, Shared};
use crate::policy::Kind;
use crate::service::access::Access;
use crate::service::{grants, Services};

/// A shared resource as a GraphQL object: its row and the caller's access.
pub struct Guarded<E: Shared> {
    pub model: E::Model,
    access: OnceCell<Access>,
    /// The row came from a list or relation of what the caller may view:
    /// its contents show without asking for the caller's access.
    viewable: bool,
}

impl<E: Shared> Guarded<E>
where
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    /// The kind of resource, as the policy names it.
    pub const KIND: Kind = E::KIND;

    /// A row reached without a permission check of its own (a list the
    /// services filtered, a relation, a mutation's result).
    pub fn new(model: E::Model) -> Guarded<E> {
        Guarded {
            model,
            access: OnceCell::new(),
            viewable: false,
        }
    }

    /// A row the services returned because the caller may view it: a list
    /// or a relation filtered by the view routes (the same routes as
    /// [`Access::visible`]).
    pub fn viewable(model: E::Model) -> Guarded<E> {
        Guarded {
            viewable: true,
            ..Guarded::new(model)
        }
    }

    /// The resource as the caller sees it (NOT_FOUND when they cannot).
    pub async fn load(svc: &Services, caller: &Caller, id: Id<E>) -> AppResult<Guarded<E>> {
        let (model, access) =
            grants::visible::<E>(svc, caller, E::KIND, id.uuid(), E::KIND.as_str()).await?;
        Ok(Guarded {
            model,
            access: OnceCell::new_with(Some(access)),
            viewable: false,
        })
    }

    /// The resource after a change the caller was allowed to make.
    pub async fn reload(svc: &Services, id: Uuid) -> AppResult<Guarded<E>> {
        let model = grants::by_id::<E>(svc, id, E::KIND.as_str()).await?;
        Ok(Guarded::new(model))
    }

    /// Decodes a global ID of this resource's type (BAD_USER_INPUT otherwise).
    pub fn parse_id(id: &ID, field: &str) -> AppResult<Id<E>> {
        parse_id(id, field)
    }

    pub fn uuid(&self) -> Uuid {
        E::id_of(&self.model)
    }

    /// What the caller may do with the resource.
    pub async fn access(&self, ctx: &Context<'_>) -> AppResult<&Access> {
        self.access
            .get_or_try_init(|| async { loaders(ctx)?.access(E::KIND, self.uuid()).await })
            .await
    }

    /// Whether the caller may see the resource's contents.
    pub async fn shows_contents(&self, ctx: &Context<'_>) -> AppResult<bool> {
        if self.viewable {
            return Ok(true);
        }
        let (svc, _) = scope(ctx)?;
        Ok(self.access(ctx).await?.visible(&svc.policy))
    }
}
