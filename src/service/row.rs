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

/// `FromRow` for the model of an entity module: the columns always set,
/// then the optional ones.
macro_rules! from_row {
    ($entity:ident { $($field:ident: $column:ident),* } optional { $($opt:ident: $opt_column:ident),* }) => {
        impl FromRow for $entity::Model {
            fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
                use $entity::Column as C;
                Ok($entity::Model {
                    $($field: get(row, C::$column)?,)*
                    $($opt: get_nullable(row, C::$opt_column)?,)*
                })
            }
        }
    };
}

from_row!(dataset {
    id: Id, title: Title, description: Description, created_at: CreatedAt, updated_at: UpdatedAt
} optional { folder_id: FolderId, created_by: CreatedBy });

from_row!(project {
    id: Id, title: Title, description: Description, ontology_id: OntologyId,
    created_at: CreatedAt, updated_at: UpdatedAt
} optional { owner_id: OwnerId });

from_row!(ontology {
    id: Id, title: Title, description: Description, structure: Structure,
    created_at: CreatedAt, updated_at: UpdatedAt
} optional { created_by: CreatedBy });

from_row!(folder {
    id: Id, name: Name, created_at: CreatedAt, updated_at: UpdatedAt
} optional { parent_id: ParentId, created_by: CreatedBy });
