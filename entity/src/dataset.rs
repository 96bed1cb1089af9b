use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "datasets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text", default_value = "")]
    pub description: String,
    /// Set when the dataset mirrors a folder.
    pub folder_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::folder::Entity",
        from = "Column::FolderId",
        to = "super::folder::Column::Id",
        on_delete = "Restrict"
    )]
    Folder,
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::CreatedBy",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    Creator,
    #[sea_orm(has_many = "super::dataset_file::Entity")]
    DatasetFile,
    #[sea_orm(has_many = "super::project_dataset::Entity")]
    ProjectDataset,
}

impl Related<super::folder::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Folder.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Creator.def()
    }
}

impl Related<super::dataset_file::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DatasetFile.def()
    }
}

impl Related<super::project_dataset::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectDataset.def()
    }
}

/// Files in this dataset (via `dataset_files`).
impl Related<super::file::Entity> for Entity {
    fn to() -> RelationDef {
        super::dataset_file::Relation::File.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::dataset_file::Relation::Dataset.def().rev())
    }
}

/// Projects using this dataset (via `project_datasets`).
impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        super::project_dataset::Relation::Project.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::project_dataset::Relation::Dataset.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
