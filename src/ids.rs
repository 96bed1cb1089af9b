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

/// Cursors are opaque too: they name the last row of a page and its sort
/// key (its name, or its creation time to the nanosecond).
pub fn encode_cursor(cursor: &Cursor) -> String {
    let mut raw = format!("cursor:{}", cursor.id);
    if let Some(at) = cursor.created_at {
        raw.push('@');
        raw.push_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
    }
    if let Some(name) = &cursor.name {
        raw.push(':');
        raw.push_str(name);
    }
    URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode_cursor(cursor: &str) -> Option<Cursor> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let rest = raw.strip_prefix("cursor:")?;
    let id = Uuid::parse_str(rest.get(..36)?).ok()?;
    let rest = &rest[36..];
    let (created_at, name) = if let Some(name) = rest.strip_prefix(':') {
        (None, Some(name.to_owned()))
    } else if let Some(at) = rest.strip_prefix('@') {
        let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
        (Some(at.with_timezone(&chrono::Utc)), None)
    } else if rest.is_empty() {
        (None, None)
    } else {
        return None;
    };
    Some(Cursor {
        id,
        name,
        created_at,
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
        let plain = Cursor {
            id,
            ..Cursor::default()
        };
        assert_eq!(decode_cursor(&encode_cursor(&plain)), Some(plain));
        let created = Cursor {
            id,
            created_at: Some(chrono::Utc::now()),
            ..Cursor::default()
        };
        assert_eq!(decode_cursor(&encode_cursor(&created)), Some(created));
        let named = Cursor {
            id,
            name: Some("Birds: 2024".into()),
            ..Cursor::default()
        };
        assert_eq!(decode_cursor(&encode_cursor(&named)), Some(named));
        assert_eq!(decode_cursor(&encode("Dataset", id)), None);
    }
}
