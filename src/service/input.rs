//! Validation of free-text input shared by the domains.

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::ColumnTrait;

use crate::error::{AppError, AppResult};

/// A required, trimmed, bounded text such as a title or a name.
pub fn required_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(format!("{field} must not be empty")));
    }
    bounded(field, value, max)
}

/// An optional text such as a description, bounded.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<String> {
    bounded(field, value.unwrap_or("").trim(), max)
}

fn bounded(field: &str, value: &str, max: usize) -> AppResult<String> {
    if value.chars().count() > max {
        return Err(AppError::bad_input(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(value.to_owned())
}

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 5000;

/// The LIKE pattern for a case-insensitive "contains" (to compare with a
/// lower-cased column), with `%`, `_` and backslashes taken literally.
pub fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Case-insensitive "contains" on a text column, with `%`/`_` taken literally.
pub fn contains_ci<C: ColumnTrait>(column: C, needle: &str) -> SimpleExpr {
    Expr::expr(Func::lower(Expr::col(column)))
        .like(LikeExpr::new(like_pattern(needle)).escape('\\'))
}

/// The trimmed search text, or `None` when there is nothing to search for.
pub fn search_term(search: Option<&str>) -> Option<&str> {
    search.map(str::trim).filter(|s| !s.is_empty())
}
