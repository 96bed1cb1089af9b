//! Groups and their memberships.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::group;

use super::loaders::UserField;
use super::user::User;
use super::{connection, global_id, loaders, or_null, parse_id, parse_ids, scope};
use crate::policy::{Action, Kind, Role};
use crate::service::{groups, users};

/// A set of users that can be granted roles together. A group's role on a
/// resource reaches its MEMBERs only, never its MANAGERs.
pub struct Group(pub group::Model);

/// A user's role in a group.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum GroupRole {
    /// Receives the roles granted to the group.
    Member,
    /// Manages the group's memberships; receives none of the group's roles.
    Manager,
}

crate::stored_as!(GroupRole => Role { Member => Member, Manager => Manager });

/// One user's membership in a group.
#[derive(SimpleObject)]
pub struct GroupMember {
    /// The member.
    pub user: User,
    /// Their role in the group.
    pub role: GroupRole,
}

/// What the caller may do with a group.
#[derive(SimpleObject)]
pub struct GroupPermissions {
    /// Add and remove members, change their roles.
    pub manage_members: bool,
    /// Rename or delete the group.
    pub manage_group: bool,
}

#[Object]
impl Group {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::group::Entity>(self.0.id)
    }
    /// Unique name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Free text.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// When the group was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The group's members and managers.
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<GroupMember>> {
        let loaders = loaders(ctx)?;
        let memberships = loaders
            .group_members
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        let ids = memberships
            .iter()
            .map(|m| (UserField::GroupMember, m.user_id));
        let people = loaders.users.load_many(ids).await?;
        Ok(memberships
            .into_iter()
            .filter_map(|m| {
                Some(GroupMember {
                    user: User(people.get(&(UserField::GroupMember, m.user_id))?.clone()),
                    role: m.role.try_into().unwrap_or(GroupRole::Member),
                })
            })
            .collect())
    }
    /// What the caller may do with this group.
    async fn viewer_can(&self, ctx: &Context<'_>) -> Result<GroupPermissions> {
        let (svc, caller) = scope(ctx)?;
        let admin = svc.policy.allows(
            Kind::Workspace,
            users::workspace_role(svc, caller).await?,
            Action::ManageGroups,
        );
        let memberships = loaders(ctx)?
            .group_members
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        let manager = memberships.iter().any(|m| {
            m.user_id == caller.id
                && svc
                    .policy
                    .allows(Kind::Group, m.role, Action::ManageMembers)
        });
        Ok(GroupPermissions {
            manage_members: admin || manager,
            manage_group: admin,
        })
    }
}

#[derive(Default)]
pub struct GroupQuery;

crate::query_object! {
    impl GroupQuery {
        paged {
            /// Groups of the workspace (visible to every member).
            fn groups(
                ctx,
                #[graphql(desc = "Case-insensitive text to find in the name.")] search: Option<String>,
                ..page,
            ) -> Group {
                let (svc, caller) = scope(ctx)?;
                let page = groups::list(
                    svc,
                    caller,
                    search.as_deref(),
                    page,
                )
                .await?;
                Ok(connection(page, Group))
            }
        }

        /// One group by ID.
        async fn group(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Group>> {
            let result = async {
                let (svc, caller) = scope(ctx)?;
                let id = parse_id(&id, "id")?;
                groups::get(svc, caller, id).await.map(Group)
            };
            or_null(ctx, result.await)
        }
    }
}

/// Creates a group (workspace ADMINs).
#[derive(InputObject)]
pub struct CreateGroupInput {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
}

/// Renames or describes a group (workspace ADMINs).
#[derive(InputObject)]
pub struct UpdateGroupInput {
    /// The group.
    pub id: ID,
    /// New name, when given.
    pub name: Option<String>,
    /// New description, when given.
    pub description: Option<String>,
}

/// Deletes a group and every role granted to it.
#[derive(InputObject)]
pub struct DeleteGroupInput {
    /// The group.
    pub id: ID,
}

/// Adds users to a group, or changes the role of those already in it.
#[derive(InputObject)]
pub struct AddGroupMembersInput {
    /// The group.
    pub group_id: ID,
    /// The users.
    pub user_ids: Vec<ID>,
    /// Their role in the group.
    #[graphql(default_with = "GroupRole::Member")]
    pub role: GroupRole,
}

/// Removes a user from a group.
#[derive(InputObject)]
pub struct RemoveGroupMemberInput {
    /// The group.
    pub group_id: ID,
    /// The user.
    pub user_id: ID,
}

#[derive(Default)]
pub struct GroupMutation;

#[Object]
impl GroupMutation {
    /// Creates a group (workspace ADMINs).
    async fn create_group(&self, ctx: &Context<'_>, input: CreateGroupInput) -> Result<Group> {
        let (svc, caller) = scope(ctx)?;
        Ok(Group(
            groups::create(svc, caller, &input.name, input.description.as_deref()).await?,
        ))
    }

    /// Renames or describes a group (workspace ADMINs).
    async fn update_group(&self, ctx: &Context<'_>, input: UpdateGroupInput) -> Result<Group> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(Group(
            groups::update(
                svc,
                caller,
                id,
                input.name.as_deref(),
                input.description.as_deref(),
            )
            .await?,
        ))
    }

    /// Deletes a group; every role granted to it is revoked.
    async fn delete_group(&self, ctx: &Context<'_>, input: DeleteGroupInput) -> Result<ID> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(global_id::<entity::group::Entity>(
            groups::delete(svc, caller, id).await?,
        ))
    }

    /// Adds users to a group (workspace ADMINs and the group's MANAGERs).
    async fn add_group_members(
        &self,
        ctx: &Context<'_>,
        input: AddGroupMembersInput,
    ) -> Result<Group> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.group_id, "groupId")?;
        let user_ids = parse_ids(&input.user_ids, "userIds")?;
        Ok(Group(
            groups::add_members(svc, caller, id, &user_ids, input.role.into()).await?,
        ))
    }

    /// Removes a user from a group (workspace ADMINs and the group's MANAGERs).
    async fn remove_group_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveGroupMemberInput,
    ) -> Result<Group> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.group_id, "groupId")?;
        let user_id = parse_id(&input.user_id, "userId")?;
        Ok(Group(
            groups::remove_member(svc, caller, id, user_id).await?,
        ))
    }
}
