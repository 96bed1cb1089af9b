use std::fmt;

use sea_orm::entity::prelude::*;

use crate::enums::StorageProvider;

/// A named connection to storage: S3 (or an S3-compatible endpoint), GCS,
/// Azure, HTTP(S) or a local root folder.
///
/// No `Serialize`: the credentials must never leave the server, and their
/// `Debug` prints no secret.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    pub provider: StorageProvider,
    /// Non-secret settings (bucket, region, endpoint, prefix, root, base URL…).
    #[sea_orm(column_type = "JsonBinary")]
    pub config: Json,
    /// The write-only secret part (JSON text); never returned by the API.
    #[sea_orm(column_type = "Text", nullable)]
    pub credentials: Option<Credentials>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Secret JSON text. Its `Debug` never prints the value, so neither does the
/// `Debug` of a model, an active model or a log line made from them.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
#[sea_orm(column_type = "Text")]
pub struct Credentials(pub String);

impl Credentials {
    /// The secret text, for the code that connects to storage.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(***)")
    }
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
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Creator.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
