//! Writing the planned rows: multi-row INSERTs sized under each database's
//! cap on bound values (SQLite 32,766, PostgreSQL 65,535), one write
//! transaction per table (files a batch at a time), then fresh planner
//! statistics. Generic over sea-orm's active models so every table goes in
//! the same way, without building SQL by hand.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entity::enums::FileKind;
use entity::{dataset_file, file, role_grant};
use rand::rngs::StdRng;
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Iterable, Set,
};
use uuid::Uuid;

use super::plan::{random_id, time_after, YEAR_MS};
use super::Shape;
use crate::policy::{Kind, Role};

#[allow(clippy::too_many_arguments)]
pub(super) fn grant_row(
    rng: &mut StdRng,
    kind: Kind,
    resource_id: Uuid,
    user: Option<Uuid>,
    group: Option<Uuid>,
    role: Role,
    created_by: Uuid,
    at: DateTime<Utc>,
) -> role_grant::ActiveModel {
    role_grant::ActiveModel {
        id: Set(random_id(rng)),
        resource_type: Set(kind),
        resource_id: Set(resource_id),
        user_id: Set(user),
        group_id: Set(group),
        role: Set(role),
        created_by: Set(Some(created_by)),
        created_at: Set(at),
    }
}

/// The planned rows the files hang on.
pub(super) struct Ids<'a> {
    pub(super) users: &'a [Uuid],
    pub(super) creators: &'a [usize],
    pub(super) datasets: &'a [Uuid],
    pub(super) dataset_times: &'a [DateTime<Utc>],
    pub(super) folders: &'a [Uuid],
    pub(super) mirrored: &'a [bool],
    pub(super) counts: &'a [usize],
}

/// Files per write transaction (a huge one would only grow SQLite's log).
const FILES_PER_TRANSACTION: usize = 100_000;

/// Registers each dataset's files in its folder and attaches them (unless
/// the dataset mirrors the folder), a batch at a time.
pub(super) async fn insert_files(
    db: &DatabaseConnection,
    backend: DbBackend,
    rng: &mut StdRng,
    shape: &Shape,
    ids: &Ids<'_>,
) -> anyhow::Result<(u64, u64)> {
    let mut files = Vec::with_capacity(FILES_PER_TRANSACTION);
    let mut links = Vec::with_capacity(FILES_PER_TRANSACTION);
    let (mut files_n, mut links_n) = (0, 0);
    for d in 0..shape.datasets {
        let creator = ids.users[ids.creators[d]];
        for j in 0..ids.counts[d] {
            let id = random_id(rng);
            let at = time_after(rng, ids.dataset_times[d], YEAR_MS / 6);
            let video = rng.random_bool(0.1);
            let (kind, ext, mime) = if video {
                (FileKind::Video, "mp4", "video/mp4")
            } else {
                (FileKind::Image, "jpg", "image/jpeg")
            };
            let url = format!(
                "s3://annograph-seed/team-{:04}/dataset-{d:06}/{j:06}.{ext}",
                d / 100
            );
            files.push(file::ActiveModel {
                id: Set(id),
                folder_id: Set(ids.folders[d]),
                title: Set(crate::service::files::title_from_url(&url)),
                kind: Set(kind),
                object_url: Set(url),
                size_bytes: Set(Some(rng.random_range(20_000..8_000_000))),
                mime_type: Set(Some(mime.to_owned())),
                width: Set(Some(1920)),
                height: Set(Some(1080)),
                created_by: Set(Some(creator)),
                created_at: Set(at),
                updated_at: Set(at),
                ..Default::default()
            });
            if !ids.mirrored[d] {
                links.push(dataset_file::ActiveModel {
                    dataset_id: Set(ids.datasets[d]),
                    file_id: Set(id),
                    created_at: Set(at + chrono::Duration::seconds(1)),
                });
            }
            if files.len() == FILES_PER_TRANSACTION {
                files_n += insert_all(db, backend, std::mem::take(&mut files)).await?;
                links_n += insert_all(db, backend, std::mem::take(&mut links)).await?;
            }
        }
    }
    files_n += insert_all(db, backend, files).await?;
    links_n += insert_all(db, backend, links).await?;
    Ok((files_n, links_n))
}

/// The most values one statement binds, with room to spare.
fn value_cap(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 65_535,
        _ => 32_766,
    }
}

/// Inserts every row in one write transaction, as multi-row INSERTs each
/// binding fewer values than the database's cap. Returns the rows written.
pub(super) async fn insert_all<A, I>(
    db: &DatabaseConnection,
    backend: DbBackend,
    rows: I,
) -> anyhow::Result<u64>
where
    A: ActiveModelTrait + Send,
    I: IntoIterator<Item = A>,
{
    let mut rows = rows.into_iter().peekable();
    let Some(first) = rows.peek() else {
        return Ok(0);
    };
    let columns = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| !first.is_not_set(*c))
        .count()
        .max(1);
    let per_statement = value_cap(backend) / columns;
    let txn = crate::service::tx::write(db).await?;
    let mut written = 0u64;
    loop {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        if chunk.is_empty() {
            break;
        }
        written += chunk.len() as u64;
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(&txn)
            .await
            .with_context(|| {
                format!(
                    "inserting into {}",
                    sea_orm::EntityName::table_name(&<A::Entity as Default>::default())
                )
            })?;
    }
    txn.commit().await?;
    Ok(written)
}

/// Refreshes the planner's statistics after a bulk load. On PostgreSQL
/// also marks the pages all-visible (`VACUUM`), as autovacuum would some
/// time later: until then an index-only scan, the plan every visibility
/// filter is built for, still visits the table for each row it reads.
pub async fn analyze(db: &DatabaseConnection) -> anyhow::Result<()> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared("VACUUM (ANALYZE)").await?;
        }
        _ => {
            db.execute_unprepared("ANALYZE").await?;
            db.execute_unprepared("PRAGMA optimize").await?;
        }
    }
    Ok(())
}
