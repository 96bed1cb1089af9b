//! Opaque global IDs (`base64("Type:uuid")`), as Relay clients expect.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

use crate::service::page::Cursor;

/// The GraphQL type names that carry global IDs.
pub const TYPES: [&str; 10] = [
    "User",
    "Group",
    "Folder",
    "File",
    "Dataset",
    "Ontology",
    "Project",
    "AuditEvent",
    "Integration",
    "ImportJob",
];

pub fn encode(type_name: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{type_name}:{id}"))
}

/// Splits a global ID into its type name and UUID, if it is one.
pub fn decode(global: &str) -> Option<(&'static str, Uuid)> {
    let raw = URL_SAFE_NO_PAD.decode(global.trim_end_matches('=')).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (ty, id) = raw.split_once(':')?;
    let ty = TYPES.iter().find(|t| **t == ty)?;
    Some((ty, Uuid::parse_str(id).ok()?))
}

/// Cursors are opaque too: they name the last row of a page (and its name,
/// for lists ordered by name).
pub fn encode_cursor(cursor: &Cursor) -> String {
    match &cursor.name {
        None => URL_SAFE_NO_PAD.encode(format!("cursor:{}", cursor.id)),
        Some(name) => URL_SAFE_NO_PAD.encode(format!("cursor:{}:{name}", cursor.id)),
    }
}

pub fn decode_cursor(cursor: &str) -> Option<Cursor> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let rest = raw.strip_prefix("cursor:")?;
    let (id, name) = match rest.split_once(':') {
        Some((id, name)) => (id, Some(name.to_owned())),
        None => (rest, None),
    };
    Some(Cursor {
        id: Uuid::parse_str(id).ok()?,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_reject_foreign_text() {
        let id = Uuid::now_v7();
        assert_eq!(decode(&encode("Dataset", id)), Some(("Dataset", id)));
        assert_eq!(decode("not an id"), None);
        assert_eq!(
            decode(&URL_SAFE_NO_PAD.encode(format!("Spaceship:{id}"))),
            None
        );
        let plain = Cursor { id, name: None };
        assert_eq!(decode_cursor(&encode_cursor(&plain)), Some(plain));
        let named = Cursor {
            id,
            name: Some("Birds: 2024".into()),
        };
        assert_eq!(decode_cursor(&encode_cursor(&named)), Some(named));
        assert_eq!(decode_cursor(&encode("Dataset", id)), None);
    }
}
