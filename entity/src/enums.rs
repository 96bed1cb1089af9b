//! The closed sets of values stored in text columns: roles, resource kinds,
//! import statuses, audit actions, file kinds, storage providers.
//!
//! Each is a Rust enum mapped by sea-orm to the exact string the column has
//! always held, so the database needs no migration and both SQLite and
//! PostgreSQL read and write the same text. The spelling of a variant is
//! written once, here; the GraphQL enums are separate types mapped to these
//! by hand, so renaming a GraphQL value can never orphan a stored row. The
//! tests below pin every stored spelling.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Declares a stored enum: the variant, its stored spelling, and `as_str`,
/// `parse` and `ALL` generated from that one spelling.
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        pub enum $Name:ident {
            $( $(#[$vmeta:meta])* $Variant:ident = $spelling:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum,
            Serialize, Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $Name {
            $(
                $(#[$vmeta])*
                #[sea_orm(string_value = $spelling)]
                #[serde(rename = $spelling)]
                $Variant,
            )+
        }

        impl $Name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$Name] = &[$($Name::$Variant),+];

            /// The spelling stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($Name::$Variant => $spelling,)+
                }
            }

            /// The value stored as `s`, if it is one.
            pub fn parse(s: &str) -> Option<$Name> {
                match s {
                    $($spelling => Some($Name::$Variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $Name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$Name> for String {
            fn from(value: $Name) -> String {
                value.as_str().to_owned()
            }
        }
    };
}

stored_enum! {
    /// A role: on a resource (`role_grants.role`), in a group
    /// (`group_memberships.role`) or in the workspace (`users.workspace_role`).
    /// Which roles apply to which kind is the policy's business.
    pub enum Role {
        Admin = "ADMIN",
        User = "USER",
        TeamManager = "TEAM_MANAGER",
        AnnotatorReviewer = "ANNOTATOR_REVIEWER",
        Reviewer = "REVIEWER",
        Annotator = "ANNOTATOR",
        Member = "MEMBER",
        Manager = "MANAGER",
    }
}

stored_enum! {
    /// The kind of resource a grant or an audit event is about
    /// (`role_grants.resource_type`, `audit_events.resource_type`); also the
    /// object names of the casbin policy.
    pub enum ResourceKind {
        Dataset = "dataset",
        Project = "project",
        Ontology = "ontology",
        Folder = "folder",
        /// A cloud storage integration.
        Integration = "integration",
        /// Roles here are membership roles (MEMBER, MANAGER) of a group.
        Group = "group",
        /// Roles here are workspace roles (MEMBER, ADMIN) of a user.
        Workspace = "workspace",
    }
}

stored_enum! {
    /// Where an import job is (`import_jobs.status`).
    pub enum ImportJobStatus {
        Queued = "QUEUED",
        Running = "RUNNING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
    }
}

stored_enum! {
    /// What an entry of an import job has become (`import_items.status`).
    pub enum ImportItemStatus {
        /// Not read yet.
        Pending = "PENDING",
        /// Read; an all-or-nothing job registers it when every item is read.
        Ready = "READY",
        /// Registered.
        Done = "DONE",
        /// Not registered: see its error.
        Failed = "FAILED",
        /// Not registered: its object URL is already in the folder or listed
        /// before in the manifest.
        Skipped = "SKIPPED",
    }
}

stored_enum! {
    /// What an audit event records (`audit_events.action`).
    pub enum AuditAction {
        GrantAdd = "grant.add",
        GrantChange = "grant.change",
        GrantRemove = "grant.remove",
        UserWorkspaceRole = "user.workspace_role",
        DatasetDelete = "dataset.delete",
        DatasetJoin = "dataset.join",
        FilesMove = "files.move",
        GroupCreate = "group.create",
        GroupDelete = "group.delete",
        GroupMemberSet = "group.member.set",
        GroupMemberRemove = "group.member.remove",
        FolderDelete = "folder.delete",
        OntologyDelete = "ontology.delete",
        OntologyProjectUse = "ontology.project.use",
        ProjectDelete = "project.delete",
        DatasetProjectAttach = "dataset.project.attach",
        DatasetProjectDetach = "dataset.project.detach",
        IntegrationUpdate = "integration.update",
        IntegrationDelete = "integration.delete",
    }
}

stored_enum! {
    /// What a file holds (`files.kind`; `import_items.kind` through [`EntryKind`]).
    pub enum FileKind {
        Image = "IMAGE",
        Video = "VIDEO",
        ImageGroup = "IMAGE_GROUP",
        ImageSequence = "IMAGE_SEQUENCE",
        DicomSeries = "DICOM_SERIES",
        Audio = "AUDIO",
        Text = "TEXT",
        Pdf = "PDF",
    }
}

/// The file kind of an import item's entry (`import_items.kind`): none for
/// an entry too broken to name one, which the column holds as the empty
/// text (it is not nullable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, DeriveValueType)]
#[sea_orm(
    value_type = "String",
    from_str = "EntryKind::from_stored",
    to_str = "EntryKind::stored"
)]
pub struct EntryKind(pub Option<FileKind>);

impl EntryKind {
    /// The spelling stored in the database.
    pub fn stored(&self) -> &'static str {
        self.0.map_or("", FileKind::as_str)
    }

    fn from_stored(s: &str) -> Result<EntryKind, DbErr> {
        if s.is_empty() {
            return Ok(EntryKind(None));
        }
        FileKind::try_from_value(&s.to_owned()).map(|kind| EntryKind(Some(kind)))
    }
}

impl From<FileKind> for EntryKind {
    fn from(kind: FileKind) -> EntryKind {
        EntryKind(Some(kind))
    }
}

stored_enum! {
    /// Where an integration's objects live (`integrations.provider`).
    pub enum StorageProvider {
        /// Amazon S3 or an S3-compatible endpoint.
        S3 = "S3",
        /// Google Cloud Storage.
        Gcs = "GCS",
        /// Azure Blob Storage.
        Azure = "AZURE",
        /// Objects served over HTTP(S) under a base URL.
        Http = "HTTP",
        /// A folder on the server's file system.
        Local = "LOCAL",
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    /// Each value, its stored spelling, and back: sea-orm's mapping, `as_str`
    /// and `parse` agree, and the spellings are those rows already hold.
    fn pinned<E>(expected: &[(E, &str)], all: &[E], as_str: fn(E) -> &'static str)
    where
        E: ActiveEnum<Value = String> + Copy + PartialEq + std::fmt::Debug,
    {
        assert_eq!(
            all.len(),
            expected.len(),
            "every variant has its spelling pinned"
        );
        for (value, spelling) in expected {
            assert_eq!(value.to_value(), *spelling);
            assert_eq!(as_str(*value), *spelling);
            assert_eq!(
                E::try_from_value(&(*spelling).to_owned()).ok(),
                Some(*value)
            );
        }
    }

    #[test]
    fn roles_are_stored_with_their_historic_spellings() {
        use Role::*;
        pinned(
            &[
                (Admin, "ADMIN"),
                (User, "USER"),
                (TeamManager, "TEAM_MANAGER"),
                (AnnotatorReviewer, "ANNOTATOR_REVIEWER"),
                (Reviewer, "REVIEWER"),
                (Annotator, "ANNOTATOR"),
                (Member, "MEMBER"),
                (Manager, "MANAGER"),
            ],
            Role::ALL,
            Role::as_str,
        );
        assert_eq!(Role::parse("admin"), None, "spellings are exact");
    }

    #[test]
    fn resource_kinds_are_stored_with_their_historic_spellings() {
        use ResourceKind::*;
        pinned(
            &[
                (Dataset, "dataset"),
                (Project, "project"),
                (Ontology, "ontology"),
                (Folder, "folder"),
                (Integration, "integration"),
                (Group, "group"),
                (Workspace, "workspace"),
            ],
            ResourceKind::ALL,
            ResourceKind::as_str,
        );
    }

    #[test]
    fn import_statuses_are_stored_with_their_historic_spellings() {
        use ImportJobStatus::*;
        pinned(
            &[
                (Queued, "QUEUED"),
                (Running, "RUNNING"),
                (Succeeded, "SUCCEEDED"),
                (Failed, "FAILED"),
                (Cancelled, "CANCELLED"),
            ],
            ImportJobStatus::ALL,
            ImportJobStatus::as_str,
        );
        use ImportItemStatus as I;
        pinned(
            &[
                (I::Pending, "PENDING"),
                (I::Ready, "READY"),
                (I::Done, "DONE"),
                (I::Failed, "FAILED"),
                (I::Skipped, "SKIPPED"),
            ],
            ImportItemStatus::ALL,
            ImportItemStatus::as_str,
        );
    }

    #[test]
    fn audit_actions_are_stored_with_their_historic_spellings() {
        use AuditAction::*;
        pinned(
            &[
                (GrantAdd, "grant.add"),
                (GrantChange, "grant.change"),
                (GrantRemove, "grant.remove"),
                (UserWorkspaceRole, "user.workspace_role"),
                (DatasetDelete, "dataset.delete"),
                (DatasetJoin, "dataset.join"),
                (FilesMove, "files.move"),
                (GroupCreate, "group.create"),
                (GroupDelete, "group.delete"),
                (GroupMemberSet, "group.member.set"),
                (GroupMemberRemove, "group.member.remove"),
                (FolderDelete, "folder.delete"),
                (OntologyDelete, "ontology.delete"),
                (OntologyProjectUse, "ontology.project.use"),
                (ProjectDelete, "project.delete"),
                (DatasetProjectAttach, "dataset.project.attach"),
                (DatasetProjectDetach, "dataset.project.detach"),
                (IntegrationUpdate, "integration.update"),
                (IntegrationDelete, "integration.delete"),
            ],
            AuditAction::ALL,
            AuditAction::as_str,
        );
    }

    #[test]
    fn file_kinds_are_stored_with_their_historic_spellings() {
        use FileKind::*;
        pinned(
            &[
                (Image, "IMAGE"),
                (Video, "VIDEO"),
                (ImageGroup, "IMAGE_GROUP"),
                (ImageSequence, "IMAGE_SEQUENCE"),
                (DicomSeries, "DICOM_SERIES"),
                (Audio, "AUDIO"),
                (Text, "TEXT"),
                (Pdf, "PDF"),
            ],
            FileKind::ALL,
            FileKind::as_str,
        );
    }

    #[test]
    fn entry_kinds_are_stored_as_their_file_kind_or_the_empty_text() {
        use sea_orm::sea_query::ValueType;
        for kind in FileKind::ALL {
            let stored: sea_orm::Value = EntryKind::from(*kind).into();
            assert_eq!(stored, sea_orm::Value::from(kind.as_str()));
            assert_eq!(
                <EntryKind as ValueType>::try_from(stored).ok(),
                Some(EntryKind(Some(*kind)))
            );
        }
        let none: sea_orm::Value = EntryKind(None).into();
        assert_eq!(none, sea_orm::Value::from(""));
        assert_eq!(
            <EntryKind as ValueType>::try_from(none).ok(),
            Some(EntryKind(None))
        );
        let other = sea_orm::Value::from("image");
        assert_eq!(<EntryKind as ValueType>::try_from(other).ok(), None);
    }

    #[test]
    fn storage_providers_are_stored_with_their_historic_spellings() {
        use StorageProvider::*;
        pinned(
            &[
                (S3, "S3"),
                (Gcs, "GCS"),
                (Azure, "AZURE"),
                (Http, "HTTP"),
                (Local, "LOCAL"),
            ],
            StorageProvider::ALL,
            StorageProvider::as_str,
        );
    }
}
