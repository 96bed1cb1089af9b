//! Opaque global IDs (`base64("Type:uuid")`), as Relay clients expect, and
//! the typed IDs they decode to.
//!
//! Each kind of object with a global ID is a [`Resource`]: its entity type
//! carries its GraphQL type name, and `Id<R>` is a UUID that can only have
//! come from (or be encoded as) an ID of that type. A function taking an
//! `Id<dataset::Entity>` cannot be handed a project's ID, and the type names
//! are written once, here.

use std::fmt;
use std::marker::PhantomData;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::{
    audit_event, dataset, file, folder, group, import_job, integration, ontology, project, user,
};
use uuid::Uuid;

use crate::policy::Kind;
use crate::service::page::Cursor;

/// An object with a global ID.
pub trait Resource: sea_orm::EntityTrait {
    /// The GraphQL type name encoded in its global IDs.
    const TYPE_NAME: &'static str;
}

/// A resource shared through role grants (datasets, projects, ontologies,
/// folders, integrations): its kind in the policy and the id of its rows.
pub trait Shared: Resource {
    const KIND: Kind;

    fn id_of(model: &Self::Model) -> Uuid;
}

/// Declares the shared resources.
macro_rules! shared {
    ($($entity:ident => $Kind:ident,)+) => {
        $(impl Shared for $entity::Entity {
            const KIND: Kind = Kind::$Kind;

            fn id_of(model: &$entity::Model) -> Uuid {
                model.id
            }
        })+
    };
}

shared! {
    dataset => Dataset,
    project => Project,
    ontology => Ontology,
    folder => Folder,
    integration => Integration,
}

/// The UUID of a resource of type `R`.
pub struct Id<R>(Uuid, PhantomData<fn() -> R>);

impl<R> Id<R> {
    pub const fn new(uuid: Uuid) -> Id<R> {
        Id(uuid, PhantomData)
    }

    pub const fn uuid(self) -> Uuid {
        self.0
    }
}

impl<R: Resource> Id<R> {
    /// The global ID clients see.
    pub fn encode(self) -> String {
        encode(R::TYPE_NAME, self.0)
    }

    /// The ID, if `global` is a global ID of this type.
    pub fn decode(global: &str) -> Option<Id<R>> {
        match decode(global)? {
            (ty, uuid) if ty == R::TYPE_NAME => Some(Id::new(uuid)),
            _ => None,
        }
    }
}

// By hand: derives would ask the same of `R`.
impl<R> Clone for Id<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Id<R> {}
impl<R> PartialEq for Id<R> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<R> Eq for Id<R> {}
impl<R> std::hash::Hash for Id<R> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}
impl<R: Resource> fmt::Debug for Id<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", R::TYPE_NAME, self.0)
    }
}
/// The global ID, as messages quote it.
impl<R: Resource> fmt::Display for Id<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}
impl<R> From<Id<R>> for Uuid {
    fn from(id: Id<R>) -> Uuid {
        id.0
    }
}

/// The UUIDs of typed IDs, for queries.
pub fn uuids<R>(ids: &[Id<R>]) -> Vec<Uuid> {
    ids.iter().map(|id| id.uuid()).collect()
}

/// Declares the resources, their type names, and [`AnyId`] over them.
macro_rules! resources {
    ($($Variant:ident => $entity:ident,)+) => {
        $(impl Resource for $entity::Entity {
            const TYPE_NAME: &'static str = stringify!($Variant);
        })+

        /// The GraphQL type names that carry global IDs.
        pub const TYPES: &[&str] = &[$(stringify!($Variant)),+];

        /// A global ID of any type, decoded.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum AnyId {
            $($Variant(Id<$entity::Entity>),)+
        }

        impl AnyId {
            pub fn decode(global: &str) -> Option<AnyId> {
                let (ty, uuid) = decode(global)?;
                $(if ty == stringify!($Variant) {
                    return Some(AnyId::$Variant(Id::new(uuid)));
                })+
                None
            }

            pub fn uuid(self) -> Uuid {
                match self {
                    $(AnyId::$Variant(id) => id.uuid(),)+
                }
            }
        }
    };
}

resources! {
    User => user,
    Group => group,
    Folder => folder,
    File => file,
    Dataset => dataset,
    Ontology => ontology,
    Project => project,
    AuditEvent => audit_event,
    Integration => integration,
    ImportJob => import_job,
}

/// The global ID of the resource an audit event or grant of `kind` is
/// about (a workspace role is a user's).
pub fn of_kind(kind: Kind, uuid: Uuid) -> String {
    match kind {
        Kind::Dataset => Id::<dataset::Entity>::new(uuid).encode(),
        Kind::Project => Id::<project::Entity>::new(uuid).encode(),
        Kind::Ontology => Id::<ontology::Entity>::new(uuid).encode(),
        Kind::Folder => Id::<folder::Entity>::new(uuid).encode(),
        Kind::Integration => Id::<integration::Entity>::new(uuid).encode(),
        Kind::Group => Id::<group::Entity>::new(uuid).encode(),
        Kind::Workspace => Id::<user::Entity>::new(uuid).encode(),
    }
}

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
        let global = Id::<dataset::Entity>::new(id).encode();
        assert_eq!(decode(&global), Some(("Dataset", id)));
        assert_eq!(Id::<dataset::Entity>::decode(&global), Some(Id::new(id)));
        assert_eq!(
            Id::<project::Entity>::decode(&global),
            None,
            "an ID of one type is no ID of another"
        );
        assert_eq!(AnyId::decode(&global), Some(AnyId::Dataset(Id::new(id))));
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
        assert_eq!(decode_cursor(&global), None);
    }
}
