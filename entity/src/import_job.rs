use sea_orm::entity::prelude::*;

use crate::enums::ImportJobStatus;

/// A manifest being imported into a dataset: its settings, its progress and
/// which instance works on it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "import_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub dataset_id: Uuid,
    /// Where the files are registered.
    pub folder_id: Uuid,
    /// The storage the objects are read from; `None` once it is deleted.
    pub integration_id: Option<Uuid>,
    pub submitted_by: Option<Uuid>,
    pub status: ImportJobStatus,
    /// JSON or CSV.
    pub format: String,
    pub ignore_file_errors: bool,
    pub skip_duplicate_urls: bool,
    pub total: i64,
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    /// Why the job failed as a whole.
    #[sea_orm(column_type = "Text", nullable)]
    pub message: Option<String>,
    /// The instance running it.
    pub worker: Option<Uuid>,
    /// When that instance last reported.
    pub heartbeat_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::dataset::Entity",
        from = "Column::DatasetId",
        to = "super::dataset::Column::Id",
        on_delete = "Cascade"
    )]
    Dataset,
    #[sea_orm(has_many = "super::import_item::Entity")]
    Item,
}

impl Related<super::dataset::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Dataset.def()
    }
}

impl Related<super::import_item::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Item.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
