use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    #[sea_orm(column_type = "Text", default_value = "")]
    pub description: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::CreatedBy",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    Creator,
    #[sea_orm(has_many = "super::group_membership::Entity")]
    GroupMembership,
    /// Grants held by this group (`role_grants.group_id`).
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

/// Members of the group (via `group_memberships`). The creator is reachable
/// through `Relation::Creator`.
impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        super::group_membership::Relation::User.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::group_membership::Relation::Group.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
