//! Cloud storage integrations: named connections to S3, GCS, Azure, HTTP(S)
//! or a local root folder. Runs unchanged on SQLite and PostgreSQL.
//!
//! `config` holds the non-secret settings (JSON); `credentials` the
//! write-only secret part as JSON text, never returned by the API.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Integrations::Table)
                    .col(
                        ColumnDef::new(Integrations::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Integrations::Title).text().not_null())
                    .col(ColumnDef::new(Integrations::Provider).string().not_null())
                    .col(
                        ColumnDef::new(Integrations::Config)
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Integrations::Credentials).text().null())
                    .col(ColumnDef::new(Integrations::CreatedBy).uuid().null())
                    .col(
                        ColumnDef::new(Integrations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Integrations::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_integrations_created_by")
                            .from(Integrations::Table, Integrations::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_integrations_created_by")
                    .table(Integrations::Table)
                    .col(Integrations::CreatedBy)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Integrations::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
    Title,
    Provider,
    Config,
    Credentials,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
