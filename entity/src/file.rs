use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::FileKind;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub folder_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    pub kind: FileKind,
    #[sea_orm(column_type = "Text")]
    pub object_url: String,
    /// Storage integration; no foreign key yet.
    pub integration_id: Option<Uuid>,
    pub size_bytes: Option<i64>,
    pub mime_type: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_seconds: Option<f64>,
    pub frame_rate: Option<f64>,
    pub frame_count: Option<i64>,
    pub variable_frame_rate: Option<bool>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub client_metadata: Option<Json>,
    /// The object URLs of a file made of several objects (an image group or
    /// sequence, a DICOM series), in order; `object_url` is the first.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub parts: Option<Json>,
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

/// Datasets containing this file (via `dataset_files`).
impl Related<super::dataset::Entity> for Entity {
    fn to() -> RelationDef {
        super::dataset_file::Relation::Dataset.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::dataset_file::Relation::File.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
