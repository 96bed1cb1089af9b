use sea_orm::entity::prelude::*;

use crate::enums::{EntryKind, ImportItemStatus};

/// One entry of an import job's manifest, and what became of it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "import_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: Uuid,
    /// 0-based number of the entry in the manifest.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// The CSV line it came from.
    pub line: Option<i64>,
    pub status: ImportItemStatus,
    /// The entry's file kind; none for an entry that failed before naming one.
    pub kind: EntryKind,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    /// The (first) object URL.
    #[sea_orm(column_type = "Text")]
    pub object_url: String,
    /// Every object URL, when the entry lists several.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub parts: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub client_metadata: Option<Json>,
    /// What reading the objects found (READY items).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub probe: Option<Json>,
    pub error_code: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::import_job::Entity",
        from = "Column::JobId",
        to = "super::import_job::Column::Id",
        on_delete = "Cascade"
    )]
    Job,
}

impl Related<super::import_job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
