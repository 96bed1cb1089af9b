//! The schema: one query and one mutation object per domain, merged.

use async_graphql::{MergedObject, Schema, ValidationMode};

use super::audit::AuditQuery;
use super::dataset::{DatasetCollaboratorMutation, DatasetMutation, DatasetQuery};
use super::folder::{FolderCollaboratorMutation, FolderMutation, FolderQuery};
use super::group::{GroupMutation, GroupQuery};
use super::hooks::RequestHooks;
use super::import::{ImportMutation, ImportQuery};
use super::integration::{IntegrationCollaboratorMutation, IntegrationMutation, IntegrationQuery};
use super::lanes::AppSchema;
use super::limits::Limits;
use super::node::NodeQuery;
use super::ontology::{OntologyCollaboratorMutation, OntologyMutation, OntologyQuery};
use super::project::{ProjectCollaboratorMutation, ProjectMutation, ProjectQuery};
use super::subscription::Subscription;
use super::user::{UserMutation, UserQuery};
use crate::config::QueryLimits;
use crate::service::Services;

#[derive(MergedObject, Default)]
pub struct Query(
    UserQuery,
    DatasetQuery,
    ProjectQuery,
    OntologyQuery,
    GroupQuery,
    FolderQuery,
    IntegrationQuery,
    ImportQuery,
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
    IntegrationMutation,
    IntegrationCollaboratorMutation,
    ImportMutation,
    UserMutation,
);

/// Builds the schema with the given limits. Without services (for
/// `export-schema`) it can print its SDL but not execute.
pub fn build_schema(services: Option<Services>, limits: &QueryLimits) -> AppSchema {
    let checks = Limits {
        max_aliases: limits.max_aliases,
        timeout: limits.request_timeout,
        introspection: limits.introspection,
        budget: limits.budget(),
        anonymous: limits.anonymous_budget(),
        validated: Default::default(),
    };
    let lane = |hooked: bool| {
        let mut builder = Schema::build(
            Query::default(),
            Mutation::default(),
            Subscription::default(),
        )
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .register_output_type::<super::node::Node>();
        if hooked {
            builder = builder.extension(RequestHooks(checks.clone()));
        } else {
            // What it runs passed the hooked schema's validation.
            builder = builder.validation_mode(ValidationMode::Fast);
        }
        if !limits.introspection {
            builder = builder.disable_introspection();
        }
        if let Some(services) = &services {
            builder = builder.data(services.clone());
        }
        builder.finish()
    };
    AppSchema::new(lane(true), lane(false), checks)
}

/// The SDL the server serves, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(None, &QueryLimits::default()).sdl()
}
