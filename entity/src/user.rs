use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Workspace-level role (`MEMBER` or `ADMIN`, the policy's workspace roles).
    #[sea_orm(default_value = "MEMBER")]
    pub workspace_role: Role,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::group_membership::Entity")]
    GroupMembership,
    /// Grants held directly by this user (`role_grants.user_id`).
    #[sea_orm(has_many = "super::role_grant::Entity")]
    RoleGrant,
}

impl Related<super::group_membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GroupMembership.def()
    }
}

impl Related<super::role_grant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RoleGrant.def()
    }
}

/// Groups the user is a member of (via `group_memberships`).
impl Related<super::group::Entity> for Entity {
    fn to() -> RelationDef {
        super::group_membership::Relation::Group.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::group_membership::Relation::User.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
