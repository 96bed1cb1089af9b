//! Reading columns that are often NULL.
//!
//! sea-orm reads an optional column by reading the value and, when it is
//! NULL, building an error that names the column (formatted with `Debug`,
//! character by character) before turning it into `None`. A page of files,
//! a dozen optional columns each, spent most of its server time there.
//! [`nullable`] asks the row whether the value is NULL first and leaves the
//! reading of everything else to sea-orm, so the values read are the same.
//! Columns are read by their place in the select list, which the statement
//! names, rather than looked up by name for every value.

use sea_orm::sqlx::{Row as _, ValueRef as _};
use sea_orm::{DbErr, QueryResult, TryGetable};

/// The value of the row's `index`th column (from 0), `None` when it is NULL.
pub fn nullable<T: TryGetable>(row: &QueryResult, index: usize) -> Result<Option<T>, DbErr> {
    let null = if let Some(row) = row.try_as_pg_row() {
        row.try_get_raw(index).map(|value| value.is_null())
    } else if let Some(row) = row.try_as_sqlite_row() {
        row.try_get_raw(index).map(|value| value.is_null())
    } else {
        Ok(false)
    }
    .map_err(|e| DbErr::Custom(format!("reading column {index}: {e}")))?;
    if null {
        Ok(None)
    } else {
        row.try_get_by_index(index).map(Some)
    }
}
