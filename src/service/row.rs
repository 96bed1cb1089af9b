//! Reading columns that are often NULL.
//!
//! sea-orm reads an optional column by reading the value and, when it is
//! NULL, building an error that names the column (formatted with `Debug`,
//! character by character) before turning it into `None`. A page of files,
//! a dozen optional columns each, spent most of its server time there.
//! [`nullable`] asks the row whether the value is NULL first and leaves the
//! reading of everything else to sea-orm, so the values read are the same.
//! Values are read by their place in the row: a read by name hashes the
//! name each time. File pages know the places from the select list they
//! write; the other lists ([`FromRow`]) look their columns' places up by
//! name once per statement.

use entity::{dataset, folder, ontology, project};
use sea_orm::sqlx::{Row as _, ValueRef as _};
use sea_orm::{ColIdx, DbErr, IdenStatic, QueryResult, TryGetable};

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

/// A model read from the rows of a statement over its table, its optional
/// columns through [`nullable`]: what the paged lists of datasets, projects,
/// ontologies and folders decode (the same values as sea-orm's
/// `FromQueryResult`, which the tests of every list compare with the
/// single-object queries). The place of each column is looked up by name
/// once per statement ([`FromRow::places`]), not once per value.
pub trait FromRow: Sized {
    /// Where the model's columns sit in the rows of one statement.
    fn places(row: &QueryResult) -> Result<Places, DbErr>;

    fn from_row(row: &QueryResult, places: &Places) -> Result<Self, DbErr>;
}

/// The places of a model's columns in a row, in the order its reader takes
/// them.
pub struct Places(Vec<usize>);

/// The place of the column `name` in the row.
pub fn place(row: &QueryResult, name: &str) -> Result<usize, DbErr> {
    use sea_orm::sqlx::ColumnIndex;
    let found = if let Some(row) = row.try_as_pg_row() {
        name.index(row)
    } else if let Some(row) = row.try_as_sqlite_row() {
        name.index(row)
    } else {
        return Err(DbErr::Custom(format!("no column {name} in this row")));
    };
    found.map_err(|e| DbErr::Custom(format!("finding column {name}: {e}")))
}

impl Places {
    /// The places of `names` in `row`.
    pub fn of<'a>(
        row: &QueryResult,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Places, DbErr> {
        names
            .into_iter()
            .map(|name| place(row, name))
            .collect::<Result<_, _>>()
            .map(Places)
    }
}

/// Reads a row's columns at [`Places`], one after the other.
struct Reader<'a> {
    row: &'a QueryResult,
    places: std::slice::Iter<'a, usize>,
}

impl Reader<'_> {
    fn next_place(&mut self) -> Result<usize, DbErr> {
        self.places
            .next()
            .copied()
            .ok_or_else(|| DbErr::Custom("fewer column places than columns read".to_owned()))
    }

    fn get<T: TryGetable>(&mut self) -> Result<T, DbErr> {
        let at = self.next_place()?;
        self.row.try_get_by_index(at)
    }

    fn get_nullable<T: TryGetable>(&mut self) -> Result<Option<T>, DbErr> {
        let at = self.next_place()?;
        nullable(self.row, at)
    }
}

/// `FromRow` for the model of an entity module: the columns always set,
/// then the optional ones (fields are read in the order they are written).
macro_rules! from_row {
    ($entity:ident { $($field:ident: $column:ident),* } optional { $($opt:ident: $opt_column:ident),* }) => {
        impl FromRow for $entity::Model {
            fn places(row: &QueryResult) -> Result<Places, DbErr> {
                use $entity::Column as C;
                Places::of(row, [$(C::$column.as_str(),)* $(C::$opt_column.as_str(),)*])
            }

            fn from_row(row: &QueryResult, places: &Places) -> Result<Self, DbErr> {
                let mut read = Reader { row, places: places.0.iter() };
                Ok($entity::Model {
                    $($field: read.get()?,)*
                    $($opt: read.get_nullable()?,)*
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
