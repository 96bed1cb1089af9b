//! `node(id:)`: any object by its global ID.

use async_graphql::{Context, Interface, Object, Result, ID};

use super::audit::AuditEvent;
use super::dataset::Dataset;
use super::file::File;
use super::folder::Folder;
use super::group::Group;
use super::import::ImportJob;
use super::integration::Integration;
use super::ontology::Ontology;
use super::project::Project;
use super::user::User;
use super::{or_null, scope};
use crate::error::AppError;
use crate::ids::AnyId;
use crate::service::{files, groups, users};

/// An object with a global ID.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Global ID."))]
pub enum Node {
    AuditEvent(AuditEvent),
    User(User),
    Group(Group),
    Folder(Folder),
    File(File),
    Dataset(Dataset),
    Ontology(Ontology),
    Project(Project),
    Integration(Integration),
    ImportJob(ImportJob),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global ID; null with NOT_FOUND when missing or not visible.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let result = async {
            let (svc, caller) = scope(ctx)?;
            let id = AnyId::decode(id.as_str())
                .ok_or_else(|| AppError::bad_input("id is not a valid global ID"))?;
            Ok(match id {
                AnyId::User(id) => Node::User(User(users::get(svc, caller, id).await?)),
                AnyId::Group(id) => Node::Group(Group(groups::get(svc, caller, id).await?)),
                AnyId::Folder(id) => Node::Folder(Folder::load(svc, caller, id).await?),
                AnyId::File(id) => Node::File(File(files::get(svc, caller, id).await?)),
                AnyId::Dataset(id) => Node::Dataset(Dataset::load(svc, caller, id).await?),
                AnyId::Ontology(id) => Node::Ontology(Ontology::load(svc, caller, id).await?),
                AnyId::Project(id) => Node::Project(Project::load(svc, caller, id).await?),
                AnyId::Integration(id) => {
                    Node::Integration(Integration::load(svc, caller, id).await?)
                }
                AnyId::ImportJob(id) => {
                    Node::ImportJob(super::import::load(svc, caller, id).await?)
                }
                AnyId::AuditEvent(id) => Node::AuditEvent(AuditEvent(
                    crate::service::audit::get(svc, caller, id).await?,
                )),
            })
        };
        or_null(ctx, result.await)
    }
}
