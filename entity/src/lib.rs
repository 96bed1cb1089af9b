//! SeaORM entities for the annograph domain model.
//!
//! The schema itself is created by the `migration` crate
//! (`m20261129_000001_create_domain`, `m20261129_000002_create_integrations`,
//! `m20261129_000003_create_imports`);
//! these entities mirror it.
//! Role, kind, status and action columns hold the text of the enums in
//! `enums`, so a value outside its set cannot be written.

pub mod audit_event;
pub mod dataset;
pub mod dataset_file;
pub mod enums;
pub mod file;
pub mod folder;
pub mod group;
pub mod group_membership;
pub mod import_item;
pub mod import_job;
pub mod integration;
pub mod ontology;
pub mod project;
pub mod project_dataset;
pub mod role_grant;
pub mod stored_json;
pub mod user;

pub mod prelude {
    pub use super::audit_event::Entity as AuditEvent;
    pub use super::dataset::Entity as Dataset;
    pub use super::dataset_file::Entity as DatasetFile;
    pub use super::file::Entity as File;
    pub use super::folder::Entity as Folder;
    pub use super::group::Entity as Group;
    pub use super::group_membership::Entity as GroupMembership;
    pub use super::import_item::Entity as ImportItem;
    pub use super::import_job::Entity as ImportJob;
    pub use super::integration::Entity as Integration;
    pub use super::ontology::Entity as Ontology;
    pub use super::project::Entity as Project;
    pub use super::project_dataset::Entity as ProjectDataset;
    pub use super::role_grant::Entity as RoleGrant;
    pub use super::user::Entity as User;
}
