use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text", default_value = "")]
    pub description: String,
    pub ontology_id: Uuid,
    pub owner_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::ontology::Entity",
        from = "Column::OntologyId",
        to = "super::ontology::Column::Id",
        on_delete = "Restrict"
    )]
    Ontology,
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::OwnerId",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    Owner,
    #[sea_orm(has_many = "super::project_dataset::Entity")]
    ProjectDataset,
}

impl Related<super::ontology::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Ontology.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl Related<super::project_dataset::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectDataset.def()
    }
}

/// Datasets attached to this project (via `project_datasets`).
impl Related<super::dataset::Entity> for Entity {
    fn to() -> RelationDef {
        super::project_dataset::Relation::Dataset.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::project_dataset::Relation::Project.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
