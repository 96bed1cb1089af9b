//! Reading columns that are often NULL.
//!
//! sea-orm reads an optional column by reading the value and, when it is
//! NULL, building an error that names the column (formatted with `Debug`,
//! character by character) before turning it into `None`. A page of files,
//! a dozen optional columns each, spent most of its server time there.
//! [`nullable`] asks the row whether the value is NULL first and leaves the
//! reading of everything else to sea-orm, so the values read are the same.
//! File pages read columns by their place in the select list, which the
//! statement names; the rows of the other lists ([`FromRow`]) by name.

use entity::{dataset, folder, ontology, project};
use sea_orm::sqlx::{Row as _, ValueRef as _};
use sea_orm::{ColIdx, ColumnTrait, DbErr, QueryResult, TryGetable};

/// The value of the row's column `index` (a place from 0, or a name),
/// `None` when it is NULL.
pub fn nullable<T: TryGetable, I: ColIdx>(row: &QueryResult, index: I) -> Result<Option<T>, DbErr> {
    let null = if let Some(row) = row.try_as_pg_row() {
        row.try_get_raw(index.as_sqlx_postgres_index())
            .map(|value| value.is_null())
    } else if let Some(row) = row.try_as_sqlite_row() {
        row.try_get_raw(index.as_sqlx_sqlite_index())
            .map(|value| value.is_null())
    } else {
        Ok(false)
    }
    .map_err(|e| DbErr::Custom(format!("reading column {index:?}: {e}")))?;
    if null {
        Ok(None)
    } else {
        row.try_get_by(index).map(Some)
    }
}

/// A model read from a row of its table, its optional columns through
/// [`nullable`]: what the paged lists of datasets, projects, ontologies and
/// folders decode (the same values as sea-orm's `FromQueryResult`, which
/// the tests of every list compare with the single-object queries).
pub trait FromRow: Sized {
    fn from_row(row: &QueryResult) -> Result<Self, DbErr>;
}

fn get<T: TryGetable>(row: &QueryResult, column: impl ColumnTrait) -> Result<T, DbErr> {
    row.try_get_by(column.as_str())
}

fn get_nullable<T: TryGetable>(
    row: &QueryResult,
    column: impl ColumnTrait,
) -> Result<Option<T>, DbErr> {
    nullable(row, column.as_str())
}

impl FromRow for dataset::Model {
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        use dataset::Column as C;
        Ok(dataset::Model {
            id: get(row, C::Id)?,
            title: get(row, C::Title)?,
            description: get(row, C::Description)?,
            folder_id: get_nullable(row, C::FolderId)?,
            created_by: get_nullable(row, C::CreatedBy)?,
            created_at: get(row, C::CreatedAt)?,
            updated_at: get(row, C::UpdatedAt)?,
        })
    }
}

impl FromRow for project::Model {
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        use project::Column as C;
        Ok(project::Model {
            id: get(row, C::Id)?,
            title: get(row, C::Title)?,
            description: get(row, C::Description)?,
            ontology_id: get(row, C::OntologyId)?,
            owner_id: get_nullable(row, C::OwnerId)?,
            created_at: get(row, C::CreatedAt)?,
            updated_at: get(row, C::UpdatedAt)?,
        })
    }
}

impl FromRow for ontology::Model {
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        use ontology::Column as C;
        Ok(ontology::Model {
            id: get(row, C::Id)?,
            title: get(row, C::Title)?,
            description: get(row, C::Description)?,
            structure: get(row, C::Structure)?,
            created_by: get_nullable(row, C::CreatedBy)?,
            created_at: get(row, C::CreatedAt)?,
            updated_at: get(row, C::UpdatedAt)?,
        })
    }
}

impl FromRow for folder::Model {
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        use folder::Column as C;
        Ok(folder::Model {
            id: get(row, C::Id)?,
            name: get(row, C::Name)?,
            parent_id: get_nullable(row, C::ParentId)?,
            created_by: get_nullable(row, C::CreatedBy)?,
            created_at: get(row, C::CreatedAt)?,
            updated_at: get(row, C::UpdatedAt)?,
        })
    }
}
