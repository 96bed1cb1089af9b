//! Import jobs: a manifest's entries staged as items, worked through by the
//! import workers of every instance, with their progress checkpointed in the
//! job row. Also the object URLs of files made of several objects (image
//! groups, image sequences, DICOM series). Runs unchanged on SQLite and
//! PostgreSQL.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn timestamp<T: IntoIden>(column: T) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn count<T: IntoIden>(column: T) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ImportJobs::Table)
                    .col(
                        ColumnDef::new(ImportJobs::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ImportJobs::DatasetId).uuid().not_null())
                    .col(ColumnDef::new(ImportJobs::FolderId).uuid().not_null())
                    .col(ColumnDef::new(ImportJobs::IntegrationId).uuid().null())
                    .col(ColumnDef::new(ImportJobs::SubmittedBy).uuid().null())
                    .col(ColumnDef::new(ImportJobs::Status).string().not_null())
                    .col(ColumnDef::new(ImportJobs::Format).string().not_null())
                    .col(
                        ColumnDef::new(ImportJobs::IgnoreFileErrors)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ImportJobs::SkipDuplicateUrls)
                            .boolean()
                            .not_null(),
                    )
                    .col(count(ImportJobs::Total))
                    .col(count(ImportJobs::Processed))
                    .col(count(ImportJobs::Succeeded))
                    .col(count(ImportJobs::Failed))
                    .col(count(ImportJobs::Skipped))
                    .col(ColumnDef::new(ImportJobs::Message).text().null())
                    .col(ColumnDef::new(ImportJobs::Worker).uuid().null())
                    .col(
                        ColumnDef::new(ImportJobs::HeartbeatAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(timestamp(ImportJobs::CreatedAt))
                    .col(
                        ColumnDef::new(ImportJobs::StartedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ImportJobs::FinishedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(timestamp(ImportJobs::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_import_jobs_dataset")
                            .from(ImportJobs::Table, ImportJobs::DatasetId)
                            .to(Datasets::Table, Datasets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_import_jobs_folder")
                            .from(ImportJobs::Table, ImportJobs::FolderId)
                            .to(Folders::Table, Folders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_import_jobs_integration")
                            .from(ImportJobs::Table, ImportJobs::IntegrationId)
                            .to(Integrations::Table, Integrations::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_import_jobs_submitted_by")
                            .from(ImportJobs::Table, ImportJobs::SubmittedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // A dataset's jobs, newest first or by keyset.
        manager
            .create_index(
                Index::create()
                    .name("idx_import_jobs_dataset")
                    .table(ImportJobs::Table)
                    .col(ImportJobs::DatasetId)
                    .col(ImportJobs::Id)
                    .to_owned(),
            )
            .await?;
        // The workers' claim: queued jobs, and running ones gone quiet.
        manager
            .create_index(
                Index::create()
                    .name("idx_import_jobs_status")
                    .table(ImportJobs::Table)
                    .col(ImportJobs::Status)
                    .col(ImportJobs::HeartbeatAt)
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_import_jobs_folder", ImportJobs::FolderId),
            ("idx_import_jobs_integration", ImportJobs::IntegrationId),
            ("idx_import_jobs_submitted_by", ImportJobs::SubmittedBy),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ImportJobs::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ImportItems::Table)
                    .col(ColumnDef::new(ImportItems::JobId).uuid().not_null())
                    .col(ColumnDef::new(ImportItems::Seq).big_integer().not_null())
                    .col(ColumnDef::new(ImportItems::Line).big_integer().null())
                    .col(ColumnDef::new(ImportItems::Status).string().not_null())
                    .col(ColumnDef::new(ImportItems::Kind).string().not_null())
                    .col(ColumnDef::new(ImportItems::Title).text().not_null())
                    .col(ColumnDef::new(ImportItems::ObjectUrl).text().not_null())
                    .col(ColumnDef::new(ImportItems::Parts).json_binary().null())
                    .col(
                        ColumnDef::new(ImportItems::ClientMetadata)
                            .json_binary()
                            .null(),
                    )
                    .col(ColumnDef::new(ImportItems::Probe).json_binary().null())
                    .col(ColumnDef::new(ImportItems::ErrorCode).string().null())
                    .col(ColumnDef::new(ImportItems::ErrorMessage).text().null())
                    .primary_key(
                        Index::create()
                            .col(ImportItems::JobId)
                            .col(ImportItems::Seq),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_import_items_job")
                            .from(ImportItems::Table, ImportItems::JobId)
                            .to(ImportJobs::Table, ImportJobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The next pending items of a job, and its errors, in manifest order.
        manager
            .create_index(
                Index::create()
                    .name("idx_import_items_status")
                    .table(ImportItems::Table)
                    .col(ImportItems::JobId)
                    .col(ImportItems::Status)
                    .col(ImportItems::Seq)
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Files::Table)
                    .add_column(ColumnDef::new(Files::Parts).json_binary().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Files::Table)
                    .drop_column(Files::Parts)
                    .to_owned(),
            )
            .await?;
        for table in [
            ImportItems::Table.into_iden(),
            ImportJobs::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    Id,
    DatasetId,
    FolderId,
    IntegrationId,
    SubmittedBy,
    Status,
    Format,
    IgnoreFileErrors,
    SkipDuplicateUrls,
    Total,
    Processed,
    Succeeded,
    Failed,
    Skipped,
    Message,
    Worker,
    HeartbeatAt,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ImportItems {
    Table,
    JobId,
    Seq,
    Line,
    Status,
    Kind,
    Title,
    ObjectUrl,
    Parts,
    ClientMetadata,
    Probe,
    ErrorCode,
    ErrorMessage,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Parts,
}

#[derive(DeriveIden)]
enum Datasets {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Folders {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
