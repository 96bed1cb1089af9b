//! Sibling folders have distinct names, enforced by the database so that
//! people creating or renaming folders at the same moment cannot both win.
//!
//! Two unique indexes, because a plain unique index treats every NULL parent
//! as different: `(parent_id, name)` for sub-folders, and `(name)` over the
//! top-level folders only (a partial index; SQLite and PostgreSQL both have
//! them). Names compare exactly (case-sensitive), as the service always did.
//!
//! A live database may already hold duplicates made by such races. Before
//! the indexes are created, each set of same-named siblings keeps its oldest
//! folder (by creation time, then id) as it is, and the others are renamed
//! "<name> (2)", "<name> (3)", … skipping any name a sibling already has.
//! Nothing else about those folders changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::Uuid;
use sea_orm_migration::sea_orm::{ConnectionTrait, QueryResult};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SUB_FOLDERS: &str = "idx_folders_parent_id_name";
const TOP_LEVEL: &str = "idx_folders_top_level_name";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rename_duplicates(manager).await?;
        manager
            .create_index(
                Index::create()
                    .name(SUB_FOLDERS)
                    .table(Folders::Table)
                    .col(Folders::ParentId)
                    .col(Folders::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(TOP_LEVEL)
                    .table(Folders::Table)
                    .col(Folders::Name)
                    .unique()
                    .and_where(Expr::col(Folders::ParentId).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [TOP_LEVEL, SUB_FOLDERS] {
            manager
                .drop_index(Index::drop().name(name).table(Folders::Table).to_owned())
                .await?;
        }
        Ok(())
    }

    // The renames and the indexes land together or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Renames all but the oldest of each set of same-named siblings.
async fn rename_duplicates(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    // GROUP BY puts NULL parents together, which is what we want here.
    let groups = db
        .query_all(
            &Query::select()
                .columns([Folders::ParentId, Folders::Name])
                .from(Folders::Table)
                .group_by_columns([Folders::ParentId, Folders::Name])
                .and_having(Expr::col(Folders::Id).count().gt(1))
                .to_owned(),
        )
        .await?;
    for group in groups {
        let parent: Option<Uuid> = group.try_get("", "parent_id")?;
        let name: String = group.try_get("", "name")?;
        let rows = db
            .query_all(
                &Query::select()
                    .column(Folders::Id)
                    .from(Folders::Table)
                    .cond_where(siblings(parent))
                    .and_where(Expr::col(Folders::Name).eq(name.as_str()))
                    .order_by(Folders::CreatedAt, Order::Asc)
                    .order_by(Folders::Id, Order::Asc)
                    .to_owned(),
            )
            .await?;
        let ids = rows
            .iter()
            .map(|row: &QueryResult| row.try_get::<Uuid>("", "id"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut suffix = 1;
        for id in ids.into_iter().skip(1) {
            let new_name = loop {
                suffix += 1;
                let candidate = format!("{name} ({suffix})");
                let taken = db
                    .query_one(
                        &Query::select()
                            .column(Folders::Id)
                            .from(Folders::Table)
                            .cond_where(siblings(parent))
                            .and_where(Expr::col(Folders::Name).eq(candidate.as_str()))
                            .limit(1)
                            .to_owned(),
                    )
                    .await?
                    .is_some();
                if !taken {
                    break candidate;
                }
            };
            db.execute(
                &Query::update()
                    .table(Folders::Table)
                    .value(Folders::Name, new_name)
                    .and_where(Expr::col(Folders::Id).eq(id))
                    .to_owned(),
            )
            .await?;
        }
    }
    Ok(())
}

/// The folders beside each other under `parent` (top level when `None`).
fn siblings(parent: Option<Uuid>) -> Condition {
    match parent {
        Some(parent) => Condition::all().add(Expr::col(Folders::ParentId).eq(parent)),
        None => Condition::all().add(Expr::col(Folders::ParentId).is_null()),
    }
}

#[derive(DeriveIden)]
enum Folders {
    Table,
    Id,
    Name,
    ParentId,
    CreatedAt,
}
