//! The schema: one query and one mutation object per domain, merged.

use async_graphql::{EmptySubscription, MergedObject, Schema};

use super::audit::AuditQuery;
use super::dataset::{DatasetCollaboratorMutation, DatasetMutation, DatasetQuery};
use super::folder::{FolderCollaboratorMutation, FolderMutation, FolderQuery};
use super::group::{GroupMutation, GroupQuery};
use super::node::NodeQuery;
use super::ontology::{OntologyCollaboratorMutation, OntologyMutation, OntologyQuery};
use super::project::{ProjectCollaboratorMutation, ProjectMutation, ProjectQuery};
use super::user::{UserMutation, UserQuery};
use crate::service::Services;

#[derive(MergedObject, Default)]
pub struct Query(
    UserQuery,
    DatasetQuery,
    ProjectQuery,
    OntologyQuery,
    GroupQuery,
    FolderQuery,
    AuditQuery,
    NodeQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    FolderMutation,
    FolderCollaboratorMutation,
    DatasetMutation,
    DatasetCollaboratorMutation,
    OntologyMutation,
    OntologyCollaboratorMutation,
    ProjectMutation,
    ProjectCollaboratorMutation,
    GroupMutation,
    UserMutation,
);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Query depth and complexity limits.
pub const MAX_DEPTH: usize = 16;
pub const MAX_COMPLEXITY: usize = 20_000;

/// Builds the schema. Without services (for `export-schema`) it can print
/// its SDL but not execute.
pub fn build_schema(services: Option<Services>) -> AppSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .register_output_type::<super::node::Node>()
        .extension(super::loaders::PerRequestLoaders);
    if let Some(services) = services {
        builder = builder.data(services);
    }
    builder.finish()
}

/// The SDL the server serves, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(None).sdl()
}
