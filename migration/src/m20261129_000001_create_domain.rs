//! Initial domain schema. Runs unchanged on SQLite and PostgreSQL:
//! foreign keys are declared inside `CREATE TABLE` (SQLite cannot add them
//! later) and indexes are created with separate `CREATE INDEX` statements.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // ---- users -------------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Users::Email)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::Name).text().not_null())
                    .col(
                        ColumnDef::new(Users::WorkspaceRole)
                            .string()
                            .not_null()
                            .default("MEMBER"),
                    )
                    .col(timestamp(Users::CreatedAt))
                    .col(timestamp(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        // ---- groups ------------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(Groups::Table)
                    .col(ColumnDef::new(Groups::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Groups::Name)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Groups::Description)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(Groups::CreatedBy).uuid().null())
                    .col(timestamp(Groups::CreatedAt))
                    .col(timestamp(Groups::UpdatedAt))
                    .foreign_key(&mut fk_set_null(
                        "fk_groups_created_by",
                        Groups::Table,
                        Groups::CreatedBy,
                    ))
                    .to_owned(),
            )
            .await?;

        // ---- group_memberships ------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(GroupMemberships::Table)
                    .col(ColumnDef::new(GroupMemberships::GroupId).uuid().not_null())
                    .col(ColumnDef::new(GroupMemberships::UserId).uuid().not_null())
                    .col(ColumnDef::new(GroupMemberships::Role).string().not_null())
                    .col(timestamp(GroupMemberships::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(GroupMemberships::GroupId)
                            .col(GroupMemberships::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_group_memberships_group")
                            .from(GroupMemberships::Table, GroupMemberships::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_group_memberships_user")
                            .from(GroupMemberships::Table, GroupMemberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_group_memberships_user_role",
            GroupMemberships::Table,
            [GroupMemberships::UserId, GroupMemberships::Role],
        )
        .await?;

        // ---- folders -----------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(Folders::Table)
                    .col(ColumnDef::new(Folders::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Folders::Name).text().not_null())
                    .col(ColumnDef::new(Folders::ParentId).uuid().null())
                    .col(ColumnDef::new(Folders::CreatedBy).uuid().null())
                    .col(timestamp(Folders::CreatedAt))
                    .col(timestamp(Folders::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_folders_parent")
                            .from(Folders::Table, Folders::ParentId)
                            .to(Folders::Table, Folders::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(&mut fk_set_null(
                        "fk_folders_created_by",
                        Folders::Table,
                        Folders::CreatedBy,
                    ))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_folders_parent_id",
            Folders::Table,
            [Folders::ParentId],
        )
        .await?;

        // ---- files -------------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(Files::Table)
                    .col(ColumnDef::new(Files::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Files::FolderId).uuid().not_null())
                    .col(ColumnDef::new(Files::Title).text().not_null())
                    .col(ColumnDef::new(Files::Kind).string().not_null())
                    .col(ColumnDef::new(Files::ObjectUrl).text().not_null())
                    .col(ColumnDef::new(Files::IntegrationId).uuid().null())
                    .col(ColumnDef::new(Files::SizeBytes).big_integer().null())
                    .col(ColumnDef::new(Files::MimeType).string().null())
                    .col(ColumnDef::new(Files::Width).integer().null())
                    .col(ColumnDef::new(Files::Height).integer().null())
                    .col(ColumnDef::new(Files::DurationSeconds).double().null())
                    .col(ColumnDef::new(Files::FrameRate).double().null())
                    .col(ColumnDef::new(Files::FrameCount).big_integer().null())
                    .col(ColumnDef::new(Files::VariableFrameRate).boolean().null())
                    .col(ColumnDef::new(Files::ClientMetadata).json_binary().null())
                    .col(ColumnDef::new(Files::CreatedBy).uuid().null())
                    .col(timestamp(Files::CreatedAt))
                    .col(timestamp(Files::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_files_folder")
                            .from(Files::Table, Files::FolderId)
                            .to(Folders::Table, Folders::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(&mut fk_set_null(
                        "fk_files_created_by",
                        Files::Table,
                        Files::CreatedBy,
                    ))
                    .to_owned(),
            )
            .await?;
        // Also serves lookups by folder_id (leading column).
        manager
            .create_index(
                Index::create()
                    .name("idx_files_folder_object_url")
                    .table(Files::Table)
                    .col(Files::FolderId)
                    .col(Files::ObjectUrl)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // ---- datasets ----------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(Datasets::Table)
                    .col(ColumnDef::new(Datasets::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Datasets::Title).text().not_null())
                    .col(
                        ColumnDef::new(Datasets::Description)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(Datasets::FolderId).uuid().null())
                    .col(ColumnDef::new(Datasets::CreatedBy).uuid().null())
                    .col(timestamp(Datasets::CreatedAt))
                    .col(timestamp(Datasets::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_datasets_folder")
                            .from(Datasets::Table, Datasets::FolderId)
                            .to(Folders::Table, Folders::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(&mut fk_set_null(
                        "fk_datasets_created_by",
                        Datasets::Table,
                        Datasets::CreatedBy,
                    ))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_datasets_folder_id",
            Datasets::Table,
            [Datasets::FolderId],
        )
        .await?;
        create_index(
            manager,
            "idx_datasets_created_by",
            Datasets::Table,
            [Datasets::CreatedBy],
        )
        .await?;

        // ---- dataset_files -----------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(DatasetFiles::Table)
                    .col(ColumnDef::new(DatasetFiles::DatasetId).uuid().not_null())
                    .col(ColumnDef::new(DatasetFiles::FileId).uuid().not_null())
                    .col(timestamp(DatasetFiles::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(DatasetFiles::DatasetId)
                            .col(DatasetFiles::FileId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_dataset_files_dataset")
                            .from(DatasetFiles::Table, DatasetFiles::DatasetId)
                            .to(Datasets::Table, Datasets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_dataset_files_file")
                            .from(DatasetFiles::Table, DatasetFiles::FileId)
                            .to(Files::Table, Files::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_dataset_files_file_id",
            DatasetFiles::Table,
            [DatasetFiles::FileId],
        )
        .await?;

        // ---- ontologies --------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(Ontologies::Table)
                    .col(
                        ColumnDef::new(Ontologies::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Ontologies::Title).text().not_null())
                    .col(
                        ColumnDef::new(Ontologies::Description)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(Ontologies::Structure)
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Ontologies::CreatedBy).uuid().null())
                    .col(timestamp(Ontologies::CreatedAt))
                    .col(timestamp(Ontologies::UpdatedAt))
                    .foreign_key(&mut fk_set_null(
                        "fk_ontologies_created_by",
                        Ontologies::Table,
                        Ontologies::CreatedBy,
                    ))
                    .to_owned(),
            )
            .await?;

        // ---- projects ----------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(ColumnDef::new(Projects::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Projects::Title).text().not_null())
                    .col(
                        ColumnDef::new(Projects::Description)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(Projects::OntologyId).uuid().not_null())
                    .col(ColumnDef::new(Projects::OwnerId).uuid().null())
                    .col(timestamp(Projects::CreatedAt))
                    .col(timestamp(Projects::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_projects_ontology")
                            .from(Projects::Table, Projects::OntologyId)
                            .to(Ontologies::Table, Ontologies::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(&mut fk_set_null(
                        "fk_projects_owner",
                        Projects::Table,
                        Projects::OwnerId,
                    ))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_projects_ontology_id",
            Projects::Table,
            [Projects::OntologyId],
        )
        .await?;

        // ---- project_datasets --------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(ProjectDatasets::Table)
                    .col(ColumnDef::new(ProjectDatasets::ProjectId).uuid().not_null())
                    .col(ColumnDef::new(ProjectDatasets::DatasetId).uuid().not_null())
                    .col(timestamp(ProjectDatasets::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ProjectDatasets::ProjectId)
                            .col(ProjectDatasets::DatasetId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_datasets_project")
                            .from(ProjectDatasets::Table, ProjectDatasets::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_datasets_dataset")
                            .from(ProjectDatasets::Table, ProjectDatasets::DatasetId)
                            .to(Datasets::Table, Datasets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_project_datasets_dataset_id",
            ProjectDatasets::Table,
            [ProjectDatasets::DatasetId],
        )
        .await?;

        // ---- role_grants -------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(RoleGrants::Table)
                    .col(
                        ColumnDef::new(RoleGrants::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RoleGrants::ResourceType).string().not_null())
                    .col(ColumnDef::new(RoleGrants::ResourceId).uuid().not_null())
                    .col(ColumnDef::new(RoleGrants::UserId).uuid().null())
                    .col(ColumnDef::new(RoleGrants::GroupId).uuid().null())
                    .col(ColumnDef::new(RoleGrants::Role).string().not_null())
                    .col(ColumnDef::new(RoleGrants::CreatedBy).uuid().null())
                    .col(timestamp(RoleGrants::CreatedAt))
                    // Exactly one grantee: a user or a group.
                    .check((
                        Alias::new("ck_role_grants_one_grantee"),
                        Expr::col(RoleGrants::UserId)
                            .is_not_null()
                            .and(Expr::col(RoleGrants::GroupId).is_null())
                            .or(Expr::col(RoleGrants::UserId)
                                .is_null()
                                .and(Expr::col(RoleGrants::GroupId).is_not_null())),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_grants_user")
                            .from(RoleGrants::Table, RoleGrants::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_grants_group")
                            .from(RoleGrants::Table, RoleGrants::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut fk_set_null(
                        "fk_role_grants_created_by",
                        RoleGrants::Table,
                        RoleGrants::CreatedBy,
                    ))
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in unique indexes on both SQLite and PostgreSQL,
        // so each index only constrains the rows of its grantee kind.
        manager
            .create_index(
                Index::create()
                    .name("idx_role_grants_user")
                    .table(RoleGrants::Table)
                    .col(RoleGrants::ResourceType)
                    .col(RoleGrants::ResourceId)
                    .col(RoleGrants::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_role_grants_group")
                    .table(RoleGrants::Table)
                    .col(RoleGrants::ResourceType)
                    .col(RoleGrants::ResourceId)
                    .col(RoleGrants::GroupId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_role_grants_user_resource_type",
            RoleGrants::Table,
            [RoleGrants::UserId, RoleGrants::ResourceType],
        )
        .await?;
        create_index(
            manager,
            "idx_role_grants_group_resource_type",
            RoleGrants::Table,
            [RoleGrants::GroupId, RoleGrants::ResourceType],
        )
        .await?;

        // ---- audit_events ------------------------------------------------
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditEvents::ActorId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::Action).string().not_null())
                    .col(
                        ColumnDef::new(AuditEvents::ResourceType)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ResourceId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::Details).json_binary().null())
                    .col(timestamp(AuditEvents::CreatedAt))
                    .foreign_key(&mut fk_set_null(
                        "fk_audit_events_actor",
                        AuditEvents::Table,
                        AuditEvents::ActorId,
                    ))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_audit_events_resource",
            AuditEvents::Table,
            [AuditEvents::ResourceType, AuditEvents::ResourceId],
        )
        .await?;
        create_index(
            manager,
            "idx_audit_events_created_at",
            AuditEvents::Table,
            [AuditEvents::CreatedAt],
        )
        .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite's DROP TABLE performs an implicit row-by-row DELETE, which
        // trips the self-referencing RESTRICT foreign key on `folders` when
        // nested folders exist; detach children from their parents first.
        if manager.get_database_backend() == sea_orm::DbBackend::Sqlite
            && manager.has_table("folders").await?
        {
            manager
                .exec_stmt(
                    Query::update()
                        .table(Folders::Table)
                        .value(Folders::ParentId, Option::<String>::None)
                        .to_owned(),
                )
                .await?;
        }

        // Reverse dependency order; indexes are dropped with their tables.
        let tables: [DynIden; 12] = [
            AuditEvents::Table.into_iden(),
            RoleGrants::Table.into_iden(),
            ProjectDatasets::Table.into_iden(),
            Projects::Table.into_iden(),
            Ontologies::Table.into_iden(),
            DatasetFiles::Table.into_iden(),
            Datasets::Table.into_iden(),
            Files::Table.into_iden(),
            Folders::Table.into_iden(),
            GroupMemberships::Table.into_iden(),
            Groups::Table.into_iden(),
            Users::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// `TIMESTAMP WITH TIME ZONE NOT NULL` (text on SQLite).
fn timestamp<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// Nullable reference to `users.id` that is cleared when the user is deleted.
fn fk_set_null<T, C>(name: &str, table: T, col: C) -> ForeignKeyCreateStatement
where
    T: IntoIden,
    C: IntoIden,
{
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

/// Plain (non-unique) index.
async fn create_index<T, C, const N: usize>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: [C; N],
) -> Result<(), DbErr>
where
    T: IntoIden,
    C: IntoIden,
{
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    manager.create_index(index.to_owned()).await
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    WorkspaceRole,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    Name,
    Description,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GroupMemberships {
    Table,
    GroupId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Folders {
    Table,
    Id,
    Name,
    ParentId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    FolderId,
    Title,
    Kind,
    ObjectUrl,
    IntegrationId,
    SizeBytes,
    MimeType,
    Width,
    Height,
    DurationSeconds,
    FrameRate,
    FrameCount,
    VariableFrameRate,
    ClientMetadata,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Datasets {
    Table,
    Id,
    Title,
    Description,
    FolderId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DatasetFiles {
    Table,
    DatasetId,
    FileId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Ontologies {
    Table,
    Id,
    Title,
    Description,
    Structure,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    Title,
    Description,
    OntologyId,
    OwnerId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectDatasets {
    Table,
    ProjectId,
    DatasetId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RoleGrants {
    Table,
    Id,
    ResourceType,
    ResourceId,
    UserId,
    GroupId,
    Role,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    ActorId,
    Action,
    ResourceType,
    ResourceId,
    Details,
    CreatedAt,
}
