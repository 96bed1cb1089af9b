//! Per-request DataLoaders. They are built for each request because what a
//! caller may see depends on who they are: every loader filters by the
//! caller's grants. A nested query then costs a number of SQL statements set
//! by its depth, not by its page sizes.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::extensions::ExtensionContext;
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::{Request, Response};
use entity::{
    dataset, file, folder, group, group_membership, integration, ontology, project, role_grant,
    user,
};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::batcher::{BatchLoad, Batcher, DataLoader};
use super::subscription::ExecutionStarted;
use crate::auth::Caller;
use crate::error::AppResult;
use crate::policy::Kind;
use crate::service::access::{self, Access};
use crate::service::files::{self, FileColumns, FileFilter, FileParent};
use crate::service::page::{Cursor, Page, PageArgs, TotalCount};
use crate::service::{
    datasets, folders, grants, groups, integrations, ontologies, projects, users, Services,
};

type BatchFn<K, V> = dyn Fn(Vec<K>) -> BoxFuture<'static, AppResult<HashMap<K, V>>> + Send + Sync;

/// A loader defined by one batch function.
pub struct Batch<K, V>(Arc<BatchFn<K, V>>);

impl<K, V> BatchLoad for Batch<K, V>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
{
    type Key = K;
    type Value = V;

    fn load(&self, keys: Vec<K>) -> BoxFuture<'static, AppResult<HashMap<K, V>>> {
        (self.0)(keys)
    }
}

/// Builds a loader whose batch function gets the services, the caller and
/// the keys; its batches are started by the request's `batcher`.
fn batch<K, V, F, Fut>(
    batcher: &Arc<Batcher>,
    svc: &Services,
    caller: &Caller,
    f: F,
) -> DataLoader<Batch<K, V>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    F: Fn(Services, Caller, Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = AppResult<HashMap<K, V>>> + Send + 'static,
{
    let (svc, caller) = (svc.clone(), caller.clone());
    let f = Arc::new(f);
    DataLoader::new(
        Batch(Arc::new(move |keys| {
            let (svc, caller, f) = (svc.clone(), caller.clone(), f.clone());
            Box::pin(async move { f(svc, caller, keys).await })
        })),
        batcher,
    )
}

fn by_id<M>(items: Vec<M>, id: impl Fn(&M) -> Uuid) -> HashMap<Uuid, M> {
    items.into_iter().map(|m| (id(&m), m)).collect()
}

/// Group keys by kind and run one batched call per kind.
async fn per_kind<V, F, Fut>(keys: Vec<(Kind, Uuid)>, f: F) -> AppResult<HashMap<(Kind, Uuid), V>>
where
    F: Fn(Kind, Vec<Uuid>) -> Fut,
    Fut: Future<Output = AppResult<HashMap<Uuid, V>>>,
{
    let mut kinds: HashMap<Kind, Vec<Uuid>> = HashMap::new();
    for (kind, id) in keys {
        kinds.entry(kind).or_default().push(id);
    }
    let mut out = HashMap::new();
    for (kind, ids) in kinds {
        for (id, value) in f(kind, ids).await? {
            out.insert((kind, id), value);
        }
    }
    Ok(out)
}

/// The field a user is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserField {
    ProjectOwner,
    DatasetCreator,
    OntologyCreator,
    IntegrationCreator,
    ImportSubmitter,
    AuditActor,
    GroupMember,
    Collaborator(Kind),
}

/// Group keys by the field they are loaded for and run one batched call per
/// field.
async fn per_field<V, F, Fut>(
    keys: Vec<(UserField, Uuid)>,
    f: F,
) -> AppResult<HashMap<(UserField, Uuid), V>>
where
    F: Fn(Vec<Uuid>) -> Fut,
    Fut: Future<Output = AppResult<HashMap<Uuid, V>>>,
{
    let mut fields: HashMap<UserField, Vec<Uuid>> = HashMap::new();
    for (field, id) in keys {
        fields.entry(field).or_default().push(id);
    }
    let mut out = HashMap::new();
    for (field, ids) in fields {
        for (id, value) in f(ids).await? {
            out.insert((field, id), value);
        }
    }
    Ok(out)
}

/// A page of files of one parent, as the page loader returns it.
#[derive(Clone)]
pub struct FilePage {
    pub items: Vec<file::Model>,
    pub has_next: bool,
}

/// Every loader of one request.
pub struct Loaders {
    /// Starts the loaders' batches when the operation waits for them.
    pub batcher: Arc<Batcher>,
    pub access: DataLoader<Batch<(Kind, Uuid), Access>>,
    pub collaborators: DataLoader<Batch<(Kind, Uuid), Vec<role_grant::Model>>>,
    /// Users by (field they are loaded for, id). One statement per field in
    /// a batch, so that keys from different depths of a query joining or
    /// missing a batch does not change how many statements it costs.
    pub users: DataLoader<Batch<(UserField, Uuid), user::Model>>,
    /// Groups by (kind of resource they collaborate on, id), likewise.
    pub groups: DataLoader<Batch<(Kind, Uuid), group::Model>>,
    pub group_members: DataLoader<Batch<Uuid, Vec<group_membership::Model>>>,
    pub folders: DataLoader<Batch<Uuid, folder::Model>>,
    pub datasets: DataLoader<Batch<Uuid, dataset::Model>>,
    pub integrations: DataLoader<Batch<Uuid, integration::Model>>,
    pub ontologies: DataLoader<Batch<Uuid, ontology::Model>>,
    pub dataset_projects: DataLoader<Batch<Uuid, Vec<project::Model>>>,
    pub project_datasets: DataLoader<Batch<Uuid, Vec<dataset::Model>>>,
    pub ontology_projects: DataLoader<Batch<Uuid, Vec<project::Model>>>,
    pub file_datasets: DataLoader<Batch<(Uuid, Uuid), Vec<dataset::Model>>>,
    pub file_pages: DataLoader<Batch<(FileParent, PageArgs, FileFilter, FileColumns), FilePage>>,
    pub file_counts: DataLoader<Batch<(FileParent, FileFilter), u64>>,
}

impl Loaders {
    pub fn new(svc: &Services, caller: &Caller) -> Loaders {
        Loaders::with_batcher(svc, caller, &Batcher::new())
    }

    /// Loaders whose batches `batcher` starts.
    pub fn with_batcher(svc: &Services, caller: &Caller, batcher: &Arc<Batcher>) -> Loaders {
        Loaders {
            batcher: batcher.clone(),
            access: batch(batcher, svc, caller, |svc, caller, keys| async move {
                per_kind(keys, |kind, ids| {
                    let (svc, caller) = (svc.clone(), caller.clone());
                    async move { access::access_many(&svc.db, &svc.policy, kind, &ids, caller.id).await }
                })
                .await
            }),
            collaborators: batch(batcher, svc, caller, |svc, _, keys| async move {
                per_kind(keys, |kind, ids| {
                    let svc = svc.clone();
                    async move { grants::list_many(&svc.db, kind, &ids).await }
                })
                .await
            }),
            users: batch(
                batcher,
                svc,
                caller,
                |svc, _, keys: Vec<(UserField, Uuid)>| async move {
                    per_field(keys, |ids| {
                        let svc = svc.clone();
                        async move { Ok(by_id(users::by_ids(&svc.db, &ids).await?, |u| u.id)) }
                    })
                    .await
                },
            ),
            groups: batch(
                batcher,
                svc,
                caller,
                |svc, _, keys: Vec<(Kind, Uuid)>| async move {
                    per_kind(keys, |_, ids| {
                        let svc = svc.clone();
                        async move { Ok(by_id(groups::by_ids(&svc, &ids).await?, |g| g.id)) }
                    })
                    .await
                },
            ),
            group_members: batch(batcher, svc, caller, |svc, _, ids: Vec<Uuid>| async move {
                groups::members_many(&svc, &ids).await
            }),
            folders: batch(
                batcher,
                svc,
                caller,
                |svc, caller, ids: Vec<Uuid>| async move {
                    Ok(by_id(
                        folders::visible_by_ids(&svc, &caller, &ids).await?,
                        |f| f.id,
                    ))
                },
            ),
            datasets: batch(
                batcher,
                svc,
                caller,
                |svc, caller, ids: Vec<Uuid>| async move {
                    Ok(by_id(
                        datasets::visible_by_ids(&svc, &caller, &ids).await?,
                        |d| d.id,
                    ))
                },
            ),
            integrations: batch(
                batcher,
                svc,
                caller,
                |svc, caller, ids: Vec<Uuid>| async move {
                    Ok(by_id(
                        integrations::visible_by_ids(&svc, &caller, &ids).await?,
                        |i| i.id,
                    ))
                },
            ),
            ontologies: batch(
                batcher,
                svc,
                caller,
                |svc, caller, ids: Vec<Uuid>| async move {
                    Ok(by_id(
                        ontologies::visible_by_ids(&svc, &caller, &ids).await?,
                        |o| o.id,
                    ))
                },
            ),
            dataset_projects: batch(
                batcher,
                svc,
                caller,
                |svc, caller, ids: Vec<Uuid>| async move {
                    datasets::projects_of_many(&svc, &caller, &ids).await
                },
            ),
            project_datasets: batch(
                batcher,
                svc,
                caller,
                |svc, caller, ids: Vec<Uuid>| async move {
                    projects::datasets_of_many(&svc, &caller, &ids).await
                },
            ),
            ontology_projects: batch(
                batcher,
                svc,
                caller,
                |svc, caller, ids: Vec<Uuid>| async move {
                    ontologies::projects_of_many(&svc, &caller, &ids).await
                },
            ),
            file_datasets: batch(
                batcher,
                svc,
                caller,
                |svc, caller, keys: Vec<(Uuid, Uuid)>| async move {
                    files::datasets_of_many(&svc, &caller, &keys).await
                },
            ),
            file_pages: batch(
                batcher,
                svc,
                caller,
                |svc, _, keys: Vec<(FileParent, PageArgs, FileFilter, FileColumns)>| async move {
                    type Group = (PageArgs, FileFilter, FileColumns);
                    let mut groups: HashMap<Group, Vec<FileParent>> = HashMap::new();
                    for (parent, args, filter, columns) in keys {
                        groups
                            .entry((args, filter, columns))
                            .or_default()
                            .push(parent);
                    }
                    let mut out = HashMap::new();
                    for ((args, filter, columns), parents) in groups {
                        for (parent, (items, has_next)) in
                            files::pages(&svc, &parents, &args, &filter, columns).await?
                        {
                            out.insert(
                                (parent, args.clone(), filter.clone(), columns),
                                FilePage { items, has_next },
                            );
                        }
                    }
                    Ok(out)
                },
            ),
            file_counts: batch(
                batcher,
                svc,
                caller,
                |svc, _, keys: Vec<(FileParent, FileFilter)>| async move {
                    let mut groups: HashMap<FileFilter, Vec<FileParent>> = HashMap::new();
                    for (parent, filter) in keys {
                        groups.entry(filter).or_default().push(parent);
                    }
                    let mut out = HashMap::new();
                    for (filter, parents) in groups {
                        for (parent, n) in files::counts(&svc, &parents, &filter).await? {
                            out.insert((parent, filter.clone()), n);
                        }
                    }
                    Ok(out)
                },
            ),
        }
    }

    /// One page of a parent's files, with a total counted (batched) on request.
    pub async fn files(
        self: &Arc<Self>,
        parent: FileParent,
        args: PageArgs,
        filter: FileFilter,
        columns: FileColumns,
    ) -> AppResult<Page<file::Model>> {
        args.limit()?;
        let has_previous = args.after.is_some();
        let page = self
            .file_pages
            .load_one((parent, args, filter.clone(), columns))
            .await?
            .unwrap_or(FilePage {
                items: Vec::new(),
                has_next: false,
            });
        let loaders = self.clone();
        let total = TotalCount::from_fn(move || {
            let loaders = loaders.clone();
            let key = (parent, filter.clone());
            Box::pin(async move { Ok(loaders.file_counts.load_one(key).await?.unwrap_or(0)) })
        });
        let cursors = page
            .items
            .iter()
            .map(|f| Cursor {
                id: f.id,
                ..Cursor::default()
            })
            .collect();
        Ok(Page {
            items: page.items,
            cursors,
            has_next: page.has_next,
            has_previous,
            total,
        })
    }

    /// The caller's access to one resource.
    pub async fn access(&self, kind: Kind, id: Uuid) -> AppResult<Access> {
        Ok(self.access.load_one((kind, id)).await?.unwrap_or(Access {
            kind,
            roles: Vec::new(),
            via_project: false,
            via_workspace: false,
        }))
    }

    /// The user `id` names, loaded for `field` (see `users`).
    pub async fn user(&self, field: UserField, id: Option<Uuid>) -> AppResult<Option<user::Model>> {
        match id {
            Some(id) => self.users.load_one((field, id)).await,
            None => Ok(None),
        }
    }
}

/// What each request gets for itself: a fresh `Loaders` when an
/// authenticated caller makes it, the operation run with their batches
/// started when it waits for them (see `batcher`), and the mark that
/// execution began ([`ExecutionStarted`]). Part of the request's extension
/// (`hooks`).
#[derive(Default)]
pub(super) struct RequestScope {
    batcher: Arc<Batcher>,
}

impl RequestScope {
    /// Gives the request the caller's loaders.
    pub(super) fn prepare(&self, services: Option<&Services>, request: &mut Request) {
        let caller = super::principal_of(request).and_then(|p| p.caller().ok().cloned());
        if let (Some(caller), Some(svc)) = (caller, services) {
            let loaders = Loaders::with_batcher(svc, &caller, &self.batcher);
            request.data.insert(Arc::new(loaders));
        }
    }

    /// Runs the operation, starting the loaders' batches when it waits for
    /// them. For a subscription, this runs as each event is resolved.
    pub(super) async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation: impl Future<Output = Response>,
    ) -> Response {
        if let Some(started) = ctx.data_opt::<ExecutionStarted>() {
            started.mark();
        }
        self.drive(operation).await
    }

    /// Runs a query, starting the loaders' batches when it waits for them.
    pub(super) async fn drive(&self, operation: impl Future<Output = Response>) -> Response {
        self.batcher.drive(operation).await
    }

    /// The same for a subscription's stream, which prepares the request
    /// (and makes the loaders) when first polled, and resolves each event
    /// as it comes.
    pub(super) fn subscribe<'s>(&self, stream: BoxStream<'s, Response>) -> BoxStream<'s, Response> {
        self.batcher.drive_stream(stream).boxed()
    }
}
