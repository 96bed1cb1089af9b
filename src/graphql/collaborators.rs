//! Collaborators of datasets, projects, ontologies, folders and integrations: one shape of
//! query and mutations for every kind of shared resource.

use async_graphql::{OutputType, SimpleObject, ID};
use entity::{group, user};
use uuid::Uuid;

use super::dataset::DatasetRole;
use super::folder::FolderRole;
use super::group::Group;
use super::integration::IntegrationRole;
use super::ontology::OntologyRole;
use super::parse_id;
use super::project::ProjectRole;
use super::user::User;
use crate::error::{AppError, AppResult};
use crate::policy::{Kind, Role};
use crate::service::grants::Grantee;

/// A user or group holding a role on a resource.
#[derive(SimpleObject)]
#[graphql(
    concrete(name = "DatasetCollaborator", params(DatasetRole)),
    concrete(name = "ProjectCollaborator", params(ProjectRole)),
    concrete(name = "OntologyCollaborator", params(OntologyRole)),
    concrete(name = "FolderCollaborator", params(FolderRole)),
    concrete(name = "IntegrationCollaborator", params(IntegrationRole))
)]
pub struct Collaborator<R: OutputType> {
    /// The role held.
    pub role: R,
    /// The user holding it, when granted to a user.
    pub user: Option<User>,
    /// The group holding it (for its MEMBERs), when granted to a group.
    pub group: Option<Group>,
}

/// The collaborators of one resource.
pub async fn list<R: TryFrom<Role> + OutputType>(
    ctx: &async_graphql::Context<'_>,
    kind: Kind,
    resource_id: Uuid,
) -> AppResult<Vec<Collaborator<R>>> {
    let loaders = super::loaders(ctx)?;
    let grants = loaders
        .collaborators
        .load_one((kind, resource_id))
        .await?
        .unwrap_or_default();
    // One field per kind, so each depth of a query batches on its own.
    let field = super::loaders::UserField::Collaborator(kind);
    let users = loaders
        .users
        .load_many(
            grants
                .iter()
                .filter_map(|g| g.user_id.map(|id| (field, id))),
        )
        .await?;
    let groups = loaders
        .groups
        .load_many(
            grants
                .iter()
                .filter_map(|g| g.group_id.map(|id| (kind, id))),
        )
        .await?;
    Ok(grants
        .into_iter()
        .filter_map(|g| {
            let role = R::try_from(g.role).ok()?;
            let user = g
                .user_id
                .and_then(|id| users.get(&(field, id)).cloned())
                .map(User);
            let group = g
                .group_id
                .and_then(|id| groups.get(&(kind, id)).cloned())
                .map(Group);
            Some(Collaborator { role, user, group })
        })
        .collect())
}

/// Exactly one of a user and a group.
pub fn grantee(user_id: Option<&ID>, group_id: Option<&ID>) -> AppResult<Grantee> {
    match (user_id, group_id) {
        (Some(u), None) => Ok(Grantee::User(parse_id::<user::Entity>(u, "userId")?.uuid())),
        (None, Some(g)) => Ok(Grantee::Group(
            parse_id::<group::Entity>(g, "groupId")?.uuid(),
        )),
        _ => Err(AppError::bad_input(
            "give exactly one of userId and groupId",
        )),
    }
}

/// Generates the three collaborator mutations of one kind of resource with
/// their inputs: `add…Collaborators`, `set…CollaboratorRole`, `remove…Collaborator`.
#[macro_export]
macro_rules! collaborator_mutations {
    (
        mutation: $Mutation:ident,
        resource: $Resource:ident,
        role: $Role:ty,
        noun: $noun:literal ($a_noun:literal),
        id_field: $id_field:ident ($id_label:literal),
        add: $Add:ident => $add:ident,
        set: $Set:ident => $set:ident,
        remove: $Remove:ident => $remove:ident $(,)?
    ) => {
        #[doc = concat!("Grants a role on ", $a_noun, " to users and groups.")]
        #[derive(async_graphql::InputObject)]
        pub struct $Add {
            #[doc = concat!("The ", $noun, ".")]
            pub $id_field: async_graphql::ID,
            /// Users to grant the role to.
            #[graphql(default)]
            pub user_ids: Vec<async_graphql::ID>,
            /// Groups to grant the role to (it reaches their MEMBERs only).
            #[graphql(default)]
            pub group_ids: Vec<async_graphql::ID>,
            /// The role to grant.
            pub role: $Role,
        }

        #[doc = concat!("Changes the role of a user or group on ", $a_noun, ".")]
        #[derive(async_graphql::InputObject)]
        pub struct $Set {
            #[doc = concat!("The ", $noun, ".")]
            pub $id_field: async_graphql::ID,
            /// The user (give this or groupId).
            pub user_id: Option<async_graphql::ID>,
            /// The group (give this or userId).
            pub group_id: Option<async_graphql::ID>,
            /// The new role.
            pub role: $Role,
        }

        #[doc = concat!("Revokes the role of a user or group on ", $a_noun, ".")]
        #[derive(async_graphql::InputObject)]
        pub struct $Remove {
            #[doc = concat!("The ", $noun, ".")]
            pub $id_field: async_graphql::ID,
            /// The user (give this or groupId).
            pub user_id: Option<async_graphql::ID>,
            /// The group (give this or userId).
            pub group_id: Option<async_graphql::ID>,
        }

        #[derive(Default)]
        pub struct $Mutation;

        #[async_graphql::Object]
        impl $Mutation {
            #[doc = concat!("Grants a role on ", $a_noun, " to users and groups (all or nothing).")]
            async fn $add(
                &self,
                ctx: &async_graphql::Context<'_>,
                input: $Add,
            ) -> async_graphql::Result<$Resource> {
                let (svc, caller) = $crate::graphql::scope(ctx)?;
                let id = $Resource::parse_id(&input.$id_field, $id_label)?.uuid();
                let access = $crate::service::grants::visible_access(
                    svc,
                    caller,
                    $Resource::KIND,
                    id,
                    $noun,
                )
                .await?;
                let users =
                    $crate::graphql::parse_ids::<entity::user::Entity>(&input.user_ids, "userIds")?;
                let groups = $crate::graphql::parse_ids::<entity::group::Entity>(
                    &input.group_ids,
                    "groupIds",
                )?;
                $crate::service::grants::add(
                    svc,
                    caller,
                    &access,
                    id,
                    &$crate::ids::uuids(&users),
                    &$crate::ids::uuids(&groups),
                    input.role.into(),
                )
                .await?;
                Ok($Resource::reload(svc, id).await?)
            }

            #[doc = concat!("Changes the role of a collaborator on ", $a_noun, ".")]
            async fn $set(
                &self,
                ctx: &async_graphql::Context<'_>,
                input: $Set,
            ) -> async_graphql::Result<$Resource> {
                let (svc, caller) = $crate::graphql::scope(ctx)?;
                let id = $Resource::parse_id(&input.$id_field, $id_label)?.uuid();
                let grantee = $crate::graphql::collaborators::grantee(
                    input.user_id.as_ref(),
                    input.group_id.as_ref(),
                )?;
                let access = $crate::service::grants::visible_access(
                    svc,
                    caller,
                    $Resource::KIND,
                    id,
                    $noun,
                )
                .await?;
                $crate::service::grants::set_role(
                    svc,
                    caller,
                    &access,
                    id,
                    grantee,
                    input.role.into(),
                )
                .await?;
                Ok($Resource::reload(svc, id).await?)
            }

            #[doc = concat!("Revokes a collaborator's role on ", $a_noun, ".")]
            async fn $remove(
                &self,
                ctx: &async_graphql::Context<'_>,
                input: $Remove,
            ) -> async_graphql::Result<$Resource> {
                let (svc, caller) = $crate::graphql::scope(ctx)?;
                let id = $Resource::parse_id(&input.$id_field, $id_label)?.uuid();
                let grantee = $crate::graphql::collaborators::grantee(
                    input.user_id.as_ref(),
                    input.group_id.as_ref(),
                )?;
                let access = $crate::service::grants::visible_access(
                    svc,
                    caller,
                    $Resource::KIND,
                    id,
                    $noun,
                )
                .await?;
                $crate::service::grants::remove(svc, caller, &access, id, grantee).await?;
                Ok($Resource::reload(svc, id).await?)
            }
        }
    };
}
