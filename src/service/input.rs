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
    if value.contains('\0') {
        return Err(nul_in(field));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(value.to_owned())
}

/// U+0000 is refused in every text: PostgreSQL cannot store it and SQLite
/// cuts strings short at it. The GraphQL layer refuses it in any input
/// already; this covers text arriving by other roads (import manifests).
fn nul_in(field: &str) -> AppError {
    AppError::bad_input(format!(
        "{field} contains the character U+0000, which is not accepted in text"
    ))
}

/// How deeply a stored JSON value (ontology structure, client metadata,
/// integration settings) may nest: what every reader can decode again.
pub const JSON_MAX_DEPTH: usize = 32;
/// The largest stored JSON value, serialized.
pub const JSON_MAX_BYTES: usize = 256 * 1024;

/// Checks a JSON input before it is stored: at most [`JSON_MAX_DEPTH`]
/// levels of arrays and objects, at most [`JSON_MAX_BYTES`] serialized, and
/// no U+0000 in any key or string.
pub fn json_input(field: &str, value: &serde_json::Value) -> AppResult<()> {
    fn walk(field: &str, value: &serde_json::Value, depth: usize) -> AppResult<()> {
        use serde_json::Value;
        if matches!(value, Value::Array(_) | Value::Object(_)) && depth >= JSON_MAX_DEPTH {
            return Err(AppError::bad_input(format!(
                "{field} is nested more than {JSON_MAX_DEPTH} levels deep"
            )));
        }
        match value {
            Value::String(s) if s.contains('\0') => Err(nul_in(field)),
            Value::Array(items) => items.iter().try_for_each(|v| walk(field, v, depth + 1)),
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                if k.contains('\0') {
                    return Err(nul_in(field));
                }
                walk(field, v, depth + 1)
            }),
            _ => Ok(()),
        }
    }
    walk(field, value, 0)?;
    let size = serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len());
    if size > JSON_MAX_BYTES {
        return Err(AppError::bad_input(format!(
            "{field} is larger than {} KiB",
            JSON_MAX_BYTES / 1024
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_inputs_are_bounded_in_depth_size_and_characters() {
        let mut deep = json!(1);
        for _ in 0..JSON_MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(json_input("structure", &deep).is_ok());
        let error = json_input("structure", &json!({ "a": deep })).unwrap_err();
        assert!(error.public_message().starts_with("structure"), "{error:?}");
        let big = json!({ "a": "x".repeat(JSON_MAX_BYTES) });
        assert!(json_input("clientMetadata", &big).is_err());
        assert!(json_input("clientMetadata", &json!({ "a\u{0}": 1 })).is_err());
        assert!(json_input("clientMetadata", &json!({ "a": ["\u{0}"] })).is_err());
        assert!(required_text("title", "a\u{0}b", 10).is_err());
    }
}
