//! Users and the caller (`me`).

use async_graphql::{Context, Enum, InputObject, Object, Result, ID};
use chrono::{DateTime, Utc};
use entity::user;

use super::{connection, global_id, or_null, parse_id, scope};
use crate::policy::Role;
use crate::service::users;

/// A person of the workspace.
pub struct User(pub user::Model);

/// A user's role in the whole workspace.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WorkspaceRole {
    /// An ordinary member.
    Member,
    /// Lists every dataset, joins datasets, manages groups and users.
    Admin,
}

crate::stored_as!(WorkspaceRole => Role { Member => Member, Admin => Admin });

#[Object]
impl User {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::user::Entity>(self.0.id)
    }
    /// Email address, unique in the workspace.
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Role in the workspace.
    async fn workspace_role(&self) -> WorkspaceRole {
        self.0
            .workspace_role
            .try_into()
            .unwrap_or(WorkspaceRole::Member)
    }
    /// When the user was first seen.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct UserQuery;

crate::query_object! {
    impl UserQuery {
        before {
            /// The calling user.
            async fn me(&self, ctx: &Context<'_>) -> Result<User> {
                let (svc, caller) = scope(ctx)?;
                Ok(User(users::me(svc, caller).await?))
            }
        }
        paged {
            /// Users of the workspace, to pick collaborators and group members.
            fn users(
                ctx,
                #[graphql(desc = "Case-insensitive text to find in email or name.")] search: Option<String>,
                ..page,
            ) -> User {
                let (svc, caller) = scope(ctx)?;
                let page = users::list(
                    svc,
                    caller,
                    search.as_deref(),
                    page,
                )
                .await?;
                Ok(connection(page, User))
            }
        }

        /// One user by ID.
        async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
            let result = async {
                let (svc, caller) = scope(ctx)?;
                let id = parse_id(&id, "id")?;
                users::get(svc, caller, id).await.map(User)
            };
            or_null(ctx, result.await)
        }
    }
}

/// Changes a user's role in the workspace.
#[derive(InputObject)]
pub struct SetWorkspaceRoleInput {
    /// The user.
    pub user_id: ID,
    /// The new workspace role.
    pub role: WorkspaceRole,
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Makes a user a workspace ADMIN or MEMBER (workspace ADMINs; one ADMIN always remains).
    async fn set_workspace_role(
        &self,
        ctx: &Context<'_>,
        input: SetWorkspaceRoleInput,
    ) -> Result<User> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.user_id, "userId")?;
        Ok(User(
            users::set_workspace_role(svc, caller, id, input.role.into()).await?,
        ))
    }
}
