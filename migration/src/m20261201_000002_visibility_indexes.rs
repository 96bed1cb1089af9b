//! Indexes that let "what may this caller see" be answered from the caller's
//! own grants, whatever the size of the workspace, and lists ordered by
//! creation time be read in index order.
//!
//! - `role_grants (resource_type, user_id, role, resource_id)` and
//!   `(resource_type, group_id, role, resource_id)`: a caller's direct and
//!   group grants of one kind, each a range of one index that holds every
//!   column the visibility filter reads;
//! - `group_memberships (user_id, role, group_id)`: the groups whose grants
//!   reach a user (replaces `(user_id, role)`, its prefix);
//! - `(created_at, id)` on every list ordered by creation time;
//! - `files (folder_id, id)`: a folder's files in page order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index name, table, columns).
const INDEXES: &[(&str, &str, &[&str])] = &[
    (
        "idx_role_grants_type_user_role_resource",
        "role_grants",
        &["resource_type", "user_id", "role", "resource_id"],
    ),
    (
        "idx_role_grants_type_group_role_resource",
        "role_grants",
        &["resource_type", "group_id", "role", "resource_id"],
    ),
    (
        "idx_group_memberships_user_role_group",
        "group_memberships",
        &["user_id", "role", "group_id"],
    ),
    ("idx_files_folder_id_id", "files", &["folder_id", "id"]),
    (
        "idx_datasets_created_at_id",
        "datasets",
        &["created_at", "id"],
    ),
    (
        "idx_projects_created_at_id",
        "projects",
        &["created_at", "id"],
    ),
    (
        "idx_ontologies_created_at_id",
        "ontologies",
        &["created_at", "id"],
    ),
    (
        "idx_folders_created_at_id",
        "folders",
        &["created_at", "id"],
    ),
    (
        "idx_integrations_created_at_id",
        "integrations",
        &["created_at", "id"],
    ),
    ("idx_users_created_at_id", "users", &["created_at", "id"]),
    ("idx_groups_created_at_id", "groups", &["created_at", "id"]),
    (
        "idx_import_jobs_created_at_id",
        "import_jobs",
        &["created_at", "id"],
    ),
];

/// The index the new `group_memberships` index makes redundant.
const REPLACED: (&str, &str, &[&str]) = (
    "idx_group_memberships_user_role",
    "group_memberships",
    &["user_id", "role"],
);

fn create((name, table, columns): (&str, &str, &[&str])) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table));
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}

fn drop((name, table, _): (&str, &str, &[&str])) -> IndexDropStatement {
    Index::drop().name(name).table(Alias::new(table)).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in INDEXES {
            manager.create_index(create(*index)).await?;
        }
        manager.drop_index(drop(REPLACED)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(create(REPLACED)).await?;
        for index in INDEXES.iter().rev() {
            manager.drop_index(drop(*index)).await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
