//! Grant resolution in SQL. A caller's effective grants are their direct
//! grants plus the grants of groups in which their membership role carries
//! grants (per the policy: MEMBER, never MANAGER). Every "which resources may
//! this caller see" question is compiled from the policy's role sets into a
//! subquery here, so lists are filtered by the database, not in memory.
//!
//! Each subquery is a `UNION ALL` of routes that are each one index range
//! scan, never an `OR` across grantee columns (which no index serves):
//! - direct grants: `role_grants (resource_type, user_id, role, resource_id)`;
//! - group grants: `group_memberships (user_id, role, group_id)`, then
//!   `role_grants (resource_type, group_id, role, resource_id)`;
//! - the project route (datasets, ontologies): the caller's projects, then
//!   `project_datasets (project_id, dataset_id)` or `projects.ontology_id`.
//!
//! The cost of a filter thus follows the caller's grants, not the size of
//! the workspace.
//!
//! A list filter is the same text for every caller, only the caller's id
//! changes: each is rendered once per process and database ([`Reach`]) and
//! then bound, so that a request neither rebuilds nor re-renders the
//! statement tree of its filter (building and cloning those trees was a
//! fifth of the server's work for a short list).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use entity::{
    dataset, dataset_file, file, group_membership, ontology, project, project_dataset, role_grant,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement, SimpleExpr, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    Value,
};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::policy::{Action, Kind, Policy, Role};
use crate::service::Services;

/// Ids of the groups whose grants reach `user`.
fn inheriting_groups(policy: &Policy, user: Uuid) -> SelectStatement {
    Query::select()
        .column(group_membership::Column::GroupId)
        .from(group_membership::Entity)
        .and_where(group_membership::Column::UserId.eq(user))
        .and_where(
            group_membership::Column::Role.into_expr().is_in(
                policy
                    .inheriting_membership_roles()
                    .iter()
                    .map(|r| fixed(r.as_str())),
            ),
        )
        .to_owned()
}

/// A value the policy fixes (a resource kind, a role), written into the
/// statement's text rather than bound, so that the database plans with it:
/// only what depends on the caller (their id, a cursor, a list of ids) is
/// bound. PostgreSQL then finds a statement's generic plan as good as a
/// fresh one and keeps it (planning these statements anew costs more than
/// running them: 0.8 ms against 0.25 for a light user's page), and SQLite,
/// which plans without reading bound values, sees them.
fn fixed(spelling: &'static str) -> SimpleExpr {
    debug_assert!(spelling
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    Expr::cust(format!("'{spelling}'"))
}

/// `base` (a select over `role_grants`) twice, once per grantee route,
/// joined by `UNION ALL`: grants held by `user` directly, then through their
/// groups. Each half is served by an index on (resource_type, grantee, …).
fn held_by(policy: &Policy, user: Uuid, base: SelectStatement) -> SelectStatement {
    let direct = base
        .clone()
        .and_where(role_grant::Column::UserId.eq(user))
        .to_owned();
    let via_group = base
        .clone()
        .and_where(role_grant::Column::GroupId.in_subquery(inheriting_groups(policy, user)))
        .to_owned();
    let mut routes = direct;
    routes.union(UnionType::All, via_group);
    routes
}

/// Ids of the resources of `kind` on which `user` holds one of `roles`,
/// directly or through a group (possibly repeated).
fn ids_with_roles_select(
    policy: &Policy,
    kind: Kind,
    roles: &[Role],
    user: Uuid,
) -> SelectStatement {
    held_by(
        policy,
        user,
        Query::select()
            .column(role_grant::Column::ResourceId)
            .from(role_grant::Entity)
            .and_where(
                role_grant::Column::ResourceType
                    .into_expr()
                    .eq(fixed(kind.as_str())),
            )
            .and_where(
                role_grant::Column::Role
                    .into_expr()
                    .is_in(roles.iter().map(|r| fixed(r.as_str()))),
            )
            .to_owned(),
    )
}

/// Ids of the resources of `kind` on which `user` holds a role allowing `action`.
fn granted_select(policy: &Policy, kind: Kind, action: Action, user: Uuid) -> SelectStatement {
    ids_with_roles_select(policy, kind, policy.roles_allowing(kind, action), user)
}

/// The roles among `wanted` (role names as stored) that allow viewing a
/// resource of `kind`: a "my role" filter never reaches further than view.
pub fn viewing_roles(policy: &Policy, kind: Kind, wanted: &[Role]) -> Vec<Role> {
    policy
        .roles_allowing(kind, Action::View)
        .iter()
        .copied()
        .filter(|r| wanted.contains(r))
        .collect()
}

/// Ids of the projects `user` collaborates on (any role that may view).
fn viewable_projects(policy: &Policy, user: Uuid) -> SelectStatement {
    granted_select(policy, Kind::Project, Action::View, user)
}

/// Ids of the datasets `user` may view (possibly repeated): through a
/// dataset role, or read-only through a project they collaborate on.
fn visible_dataset_select(policy: &Policy, user: Uuid) -> SelectStatement {
    let via_project = Query::select()
        .column(project_dataset::Column::DatasetId)
        .from(project_dataset::Entity)
        .and_where(project_dataset::Column::ProjectId.in_subquery(viewable_projects(policy, user)))
        .to_owned();
    granted_select(policy, Kind::Dataset, Action::View, user)
        .union(UnionType::All, via_project)
        .to_owned()
}

/// Ids of the ontologies `user` may view (possibly repeated): through an
/// ontology role or a project using it.
fn visible_ontology_select(policy: &Policy, user: Uuid) -> SelectStatement {
    let via_project = Query::select()
        .column(project::Column::OntologyId)
        .from(project::Entity)
        .and_where(project::Column::Id.in_subquery(viewable_projects(policy, user)))
        .to_owned();
    granted_select(policy, Kind::Ontology, Action::View, user)
        .union(UnionType::All, via_project)
        .to_owned()
}

/// Ids of the resources of `kind` on which `user` holds one of `roles`,
/// directly or through a group.
pub fn ids_with_roles(svc: &Services, kind: Kind, roles: &[Role], user: Uuid) -> Reach {
    held_reach(&svc.policy, backend(svc), kind, roles, user)
}

fn backend(svc: &Services) -> DbBackend {
    svc.db.get_database_backend()
}

fn held_reach(
    policy: &Policy,
    backend: DbBackend,
    kind: Kind,
    roles: &[Role],
    user: Uuid,
) -> Reach {
    let route = Route::Held {
        kind,
        roles: roles.to_vec(),
    };
    Reach::of(policy, backend, route, user, |user| {
        ids_with_roles_select(policy, kind, roles, user)
    })
}

/// Ids of the resources of `kind` on which `user` holds a role allowing `action`.
pub fn granted_ids(svc: &Services, kind: Kind, action: Action, user: Uuid) -> Reach {
    ids_with_roles(svc, kind, svc.policy.roles_allowing(kind, action), user)
}

/// Ids of the datasets `user` may view: through a dataset role, or
/// read-only through a project they collaborate on.
pub fn visible_dataset_ids(svc: &Services, user: Uuid) -> Reach {
    dataset_reach(&svc.policy, backend(svc), user)
}

fn dataset_reach(policy: &Policy, backend: DbBackend, user: Uuid) -> Reach {
    viewable_reach(policy, backend, Kind::Dataset, user, visible_dataset_select)
}

/// Datasets `user` may view: through a dataset role, or read-only through a
/// project they collaborate on.
pub fn visible_datasets(svc: &Services, user: Uuid) -> Condition {
    Condition::all().add(visible_dataset_ids(svc, user).contains(dataset::Column::Id))
}

/// Ontologies `user` may view: through an ontology role or a project using it.
pub fn visible_ontologies(svc: &Services, user: Uuid) -> Condition {
    Condition::all()
        .add(ontology_reach(&svc.policy, backend(svc), user).contains(ontology::Column::Id))
}

fn ontology_reach(policy: &Policy, backend: DbBackend, user: Uuid) -> Reach {
    viewable_reach(
        policy,
        backend,
        Kind::Ontology,
        user,
        visible_ontology_select,
    )
}

/// The resources of `kind` (datasets, ontologies) `user` may view through
/// a role of their own or a project, as `select` builds them.
fn viewable_reach(
    policy: &Policy,
    backend: DbBackend,
    kind: Kind,
    user: Uuid,
    select: fn(&Policy, Uuid) -> SelectStatement,
) -> Reach {
    let route = Route::Viewable {
        kind,
        roles: policy.roles_allowing(kind, Action::View).to_vec(),
        projects: policy.roles_allowing(Kind::Project, Action::View).to_vec(),
    };
    Reach::of(policy, backend, route, user, |user| select(policy, user))
}

pub fn visible_projects(svc: &Services, user: Uuid) -> Condition {
    Condition::all()
        .add(granted_ids(svc, Kind::Project, Action::View, user).contains(project::Column::Id))
}

/// What a compiled filter depends on besides the caller: the route and the
/// policy's role sets it reads (so that two policies in one process never
/// share a text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Route {
    Held {
        kind: Kind,
        roles: Vec<Role>,
    },
    /// Viewable through a role of the caller's own or through a project.
    Viewable {
        kind: Kind,
        roles: Vec<Role>,
        projects: Vec<Role>,
    },
}

/// A caller's id as it is bound when a filter is rendered for the cache:
/// every bound value equal to it is the caller's id.
const CALLER: Uuid = Uuid::from_u128(0x7a3e_5c1d_9b24_4f60_8e17_c0ff_ee0c_a11e);

/// A filter's subquery rendered for one database, cut at its placeholders:
/// `column IN (subquery)` and `column NOT IN (subquery)`, and what each
/// placeholder binds.
///
/// A statement holds the filter as a custom expression whose template has
/// only placeholders: the column, the pieces of text (written as they are)
/// and the bound values in turn. sea-query tokenizes a custom template
/// character by character to number its placeholders; the template of a
/// few placeholders costs little, the filter's text (some hundreds of
/// tokens) would cost that on every request.
#[derive(Debug)]
struct Compiled {
    within: Template,
    outside: Template,
    binds: Vec<Bind>,
}

#[derive(Debug)]
enum Bind {
    Caller,
    Fixed(Value),
}

/// `column <pieces[0]> bind <pieces[1]> … bind <pieces[n]>`: one more piece
/// than binds, and the template that puts the column, the pieces and the
/// binds in a row.
#[derive(Debug)]
struct Template {
    placeholders: &'static str,
    pieces: Vec<&'static str>,
}

type CompiledKey = (bool, Vec<Role>, Route);

/// Every filter rendered so far. Texts are kept for the life of the process
/// (leaked, so that each statement borrows them): one per route, database
/// and set of roles, a handful in all.
static COMPILED: LazyLock<Mutex<HashMap<CompiledKey, Arc<Compiled>>>> =
    LazyLock::new(Default::default);

impl Compiled {
    fn render(backend: DbBackend, select: &SelectStatement) -> Compiled {
        let statement = backend.build(select);
        let binds: Vec<Bind> = statement
            .values
            .map(|values| values.0)
            .unwrap_or_default()
            .into_iter()
            .map(|value| match value {
                Value::Uuid(Some(id)) if id == CALLER => Bind::Caller,
                other => Bind::Fixed(other),
            })
            .collect();
        let pieces = split_at_placeholders(&statement.sql, backend);
        assert_eq!(pieces.len(), binds.len() + 1, "{}", statement.sql);
        let template = |operator: &str| {
            let mut pieces = pieces.clone();
            pieces[0] = format!(" {operator} ({}", pieces[0]);
            *pieces.last_mut().expect("one piece at least") += ")";
            Template::new(backend, pieces)
        };
        Compiled {
            within: template("IN"),
            outside: template("NOT IN"),
            binds,
        }
    }
}

impl Template {
    fn new(backend: DbBackend, pieces: Vec<String>) -> Template {
        // The column, then each piece and each bind in turn.
        let exprs = 2 * pieces.len();
        // Spaced: `??` would be a literal question mark on SQLite, and
        // `$1$2$` the start of a dollar-quoted string on PostgreSQL. The
        // statement gets a space between the pieces.
        let placeholders = (1..=exprs)
            .map(|n| match backend {
                DbBackend::Postgres => format!("${n}"),
                _ => "?".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        Template {
            placeholders: Box::leak(placeholders.into_boxed_str()),
            pieces: pieces
                .into_iter()
                .map(|piece| &*Box::leak(piece.into_boxed_str()))
                .collect(),
        }
    }
}

/// `sql` cut at its placeholders (`$1`, `$2`, … in order on PostgreSQL, `?`
/// on SQLite); quoted text and identifiers are left whole.
fn split_at_placeholders(sql: &str, backend: DbBackend) -> Vec<String> {
    let numbered = backend == DbBackend::Postgres;
    let mut pieces = vec![String::new()];
    let mut chars = sql.chars().peekable();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') if numbered && chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    digits.push(d);
                }
                assert_eq!(
                    digits.parse::<usize>().ok(),
                    Some(pieces.len()),
                    "placeholders numbered in order: {sql}"
                );
                pieces.push(String::new());
                continue;
            }
            (None, '?') if !numbered => {
                pieces.push(String::new());
                continue;
            }
            _ => {}
        }
        pieces.last_mut().expect("one piece at least").push(c);
    }
    pieces
}

/// The ids of the resources a caller reaches by one route, as a subquery
/// compiled once per process and database and bound to the caller.
#[derive(Debug, Clone)]
pub struct Reach {
    compiled: Arc<Compiled>,
    user: Uuid,
}

impl Reach {
    /// The compiled filter of `route` (rendered from `build` the first time)
    /// for `user`.
    fn of(
        policy: &Policy,
        backend: DbBackend,
        route: Route,
        user: Uuid,
        build: impl FnOnce(Uuid) -> SelectStatement,
    ) -> Reach {
        let key = (
            backend == DbBackend::Postgres,
            policy.inheriting_membership_roles().to_vec(),
            route,
        );
        let known = COMPILED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
            .cloned();
        let compiled = known.unwrap_or_else(|| {
            let compiled = Arc::new(Compiled::render(backend, &build(CALLER)));
            COMPILED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .entry(key)
                .or_insert(compiled)
                .clone()
        });
        Reach { compiled, user }
    }

    fn with_column(&self, template: &Template, column: impl ColumnTrait) -> SimpleExpr {
        let mut exprs = Vec::with_capacity(2 * template.pieces.len());
        exprs.push(column.into_expr());
        let mut pieces = template.pieces.iter();
        for bind in &self.compiled.binds {
            exprs.push(Expr::cust(
                *pieces.next().expect("a piece before each bind"),
            ));
            exprs.push(match bind {
                Bind::Caller => Expr::val(self.user),
                Bind::Fixed(value) => Expr::val(value.clone()),
            });
        }
        exprs.push(Expr::cust(*pieces.next().expect("a piece after the binds")));
        Expr::cust_with_exprs(template.placeholders, exprs)
    }

    /// `column IN (…)`: the column holds one of these ids.
    pub fn contains(&self, column: impl ColumnTrait) -> SimpleExpr {
        self.with_column(&self.compiled.within, column)
    }

    /// `column NOT IN (…)`.
    pub fn excludes(&self, column: impl ColumnTrait) -> SimpleExpr {
        self.with_column(&self.compiled.outside, column)
    }
}

/// Which route to a file counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRoute {
    /// Every route, including read-only access through a project.
    Any,
    /// Only the caller's own folder or dataset roles: what they may pass on
    /// (attach to a dataset of theirs).
    OwnRoles,
}

/// Files `user` may view (or, with `OwnRoles`, attach elsewhere): files of a
/// folder they hold a role on or that a dataset they may view mirrors, and
/// files attached to a dataset they may view. Meant for files looked up by
/// id: each route is probed per file through an index.
pub fn visible_files(policy: &Policy, user: Uuid, route: FileRoute) -> Condition {
    let dataset_ids = match route {
        FileRoute::Any => visible_dataset_select(policy, user),
        FileRoute::OwnRoles => granted_select(policy, Kind::Dataset, Action::View, user),
    };
    let mirrored = Query::select()
        .column(dataset::Column::FolderId)
        .from(dataset::Entity)
        .and_where(dataset::Column::Id.in_subquery(dataset_ids.clone()))
        .and_where(dataset::Column::FolderId.is_not_null())
        .to_owned();
    let folders = granted_select(policy, Kind::Folder, Action::View, user)
        .union(UnionType::All, mirrored)
        .to_owned();
    let attached = Query::select()
        .expr(Expr::val(1))
        .from(dataset_file::Entity)
        .and_where(
            Expr::col((dataset_file::Entity, dataset_file::Column::FileId))
                .equals((file::Entity, file::Column::Id)),
        )
        .and_where(
            Expr::col((dataset_file::Entity, dataset_file::Column::DatasetId))
                .in_subquery(dataset_ids),
        )
        .to_owned();
    Condition::any()
        .add(file::Column::FolderId.in_subquery(folders))
        .add(Expr::exists(attached))
}

/// `column` is one of `ids`. On PostgreSQL one bound array (`= ANY`), so
/// that the statement's text, and the statement prepared for it, is the same
/// for any number of ids (an `IN` list of its own length each time would be
/// parsed and planned anew); `IN (…)` on SQLite. See [`PG_ID_ARRAY`].
pub fn one_of(backend: DbBackend, column: impl ColumnTrait, ids: &[Uuid]) -> SimpleExpr {
    if backend == DbBackend::Postgres {
        // One expression for the whole comparison: as the right side of an
        // `=`, a custom `ANY(…)` would be parenthesized, which is not SQL.
        Expr::cust_with_exprs(
            format!("$1 = ANY({})", PG_ID_ARRAY.replace("{}", "$2")),
            [column.into_expr(), Expr::val(pg_id_array(ids))],
        )
    } else {
        column.is_in(ids.iter().copied())
    }
}

/// How PostgreSQL statements read a list of ids bound as one parameter
/// (`{}`: its placeholder, bound to [`pg_id_array`]): as an array computed
/// once per execution. The database driver is built without array types,
/// so the list travels as text and is cast; written as a plain
/// `CAST($n AS uuid[])`, a generic plan (which PostgreSQL switches to after
/// a statement's fifth execution) may check rows against it in a filter
/// that casts the whole list again for every row: 40 ms instead of 2 for the
/// access to a page of 100 datasets. `ARRAY(SELECT …)` is an init-plan,
/// evaluated once, in custom and generic plans alike.
pub const PG_ID_ARRAY: &str = "ARRAY(SELECT unnest(CAST({} AS uuid[])))";

/// `ids` as the text of a PostgreSQL `uuid[]` literal, for [`PG_ID_ARRAY`].
pub fn pg_id_array(ids: &[Uuid]) -> String {
    let items: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    format!("{{{}}}", items.join(","))
}

/// `role_grants` rows of `kind` (all kinds when `None`) on `resource_ids`,
/// selecting `columns`.
fn grants_on(
    backend: DbBackend,
    kind: Option<Kind>,
    resource_ids: &[Uuid],
    columns: &[role_grant::Column],
) -> SelectStatement {
    let mut select = Query::select();
    select
        .columns(columns.iter().copied())
        .from(role_grant::Entity)
        .and_where(one_of(
            backend,
            role_grant::Column::ResourceId,
            resource_ids,
        ));
    if let Some(kind) = kind {
        select.and_where(
            role_grant::Column::ResourceType
                .into_expr()
                .eq(fixed(kind.as_str())),
        );
    }
    select
}

/// The roles `user` holds on one resource, directly or through groups.
pub async fn roles_on<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    kind: Kind,
    resource_id: Uuid,
    user: Uuid,
) -> AppResult<Vec<Role>> {
    Ok(roles_on_many(db, policy, kind, &[resource_id], user)
        .await?
        .remove(&resource_id)
        .unwrap_or_default())
}

/// The roles `user` holds on each of several resources, in one statement.
pub async fn roles_on_many<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    kind: Kind,
    resource_ids: &[Uuid],
    user: Uuid,
) -> AppResult<HashMap<Uuid, Vec<Role>>> {
    let mut out: HashMap<Uuid, Vec<Role>> = HashMap::new();
    if resource_ids.is_empty() {
        return Ok(out);
    }
    let select = held_by(
        policy,
        user,
        grants_on(
            db.get_database_backend(),
            Some(kind),
            resource_ids,
            &[role_grant::Column::ResourceId, role_grant::Column::Role],
        ),
    );
    let rows: Vec<(Uuid, Role)> = tuples(db, &select).await?;
    for (id, role) in rows {
        out.entry(id).or_default().push(role);
    }
    Ok(out)
}

/// The roles `user` holds on each of several resources of different kinds,
/// in one statement (the import workers' checkpoint asks this).
pub async fn roles_on_each<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    resources: &[(Kind, Uuid)],
    user: Uuid,
) -> AppResult<HashMap<(Kind, Uuid), Vec<Role>>> {
    let mut out: HashMap<(Kind, Uuid), Vec<Role>> = HashMap::new();
    if resources.is_empty() {
        return Ok(out);
    }
    let ids: Vec<Uuid> = resources.iter().map(|(_, id)| *id).collect();
    let select = held_by(
        policy,
        user,
        grants_on(
            db.get_database_backend(),
            None,
            &ids,
            &[
                role_grant::Column::ResourceType,
                role_grant::Column::ResourceId,
                role_grant::Column::Role,
            ],
        ),
    );
    let rows: Vec<(Kind, Uuid, Role)> = tuples(db, &select).await?;
    for (kind, id, role) in rows {
        if let Some(key) = resources.iter().find(|(k, i)| *i == id && *k == kind) {
            out.entry(*key).or_default().push(role);
        }
    }
    Ok(out)
}

/// Runs a built select and reads each row as a tuple.
async fn tuples<C: ConnectionTrait, T: sea_orm::TryGetableMany>(
    db: &C,
    select: &SelectStatement,
) -> AppResult<Vec<T>> {
    let rows = db.query_all(select).await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get_many_by_index::<T>())
        .collect::<Result<_, _>>()?)
}

/// What a caller may do with one resource.
#[derive(Debug, Clone)]
pub struct Access {
    pub kind: Kind,
    /// Roles held through grants (direct or group).
    pub roles: Vec<Role>,
    /// Read-only view through a project the caller collaborates on.
    pub via_project: bool,
    /// Every action through the caller's workspace role (workspace ADMINs
    /// manage every integration), without a role of their own.
    pub via_workspace: bool,
}

impl Access {
    pub fn can(&self, policy: &Policy, action: Action) -> bool {
        policy.any_allows(self.kind, &self.roles, action)
            || (action == Action::View && self.via_project)
            || self.via_workspace
    }

    /// The caller's strongest role of their own, if any.
    pub fn my_role(&self) -> Option<Role> {
        Policy::strongest(self.kind, &self.roles)
    }

    /// FORBIDDEN unless the caller may do `action`.
    pub fn require(&self, policy: &Policy, action: Action) -> AppResult<()> {
        if self.can(policy, action) {
            Ok(())
        } else {
            Err(AppError::forbidden(action.describe()))
        }
    }

    pub fn visible(&self, policy: &Policy) -> bool {
        self.can(policy, Action::View)
    }
}

/// The caller's access to one resource, including the read-only route through
/// projects for datasets and ontologies.
pub async fn access<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    kind: Kind,
    resource_id: Uuid,
    user: Uuid,
) -> AppResult<Access> {
    let mut all = access_many(db, policy, kind, &[resource_id], user).await?;
    Ok(all.remove(&resource_id).unwrap_or(Access {
        kind,
        roles: Vec::new(),
        via_project: false,
        via_workspace: false,
    }))
}

/// Kinds every resource of which a workspace role may manage, with the
/// workspace action that says so.
fn workspace_managed(kind: Kind) -> Option<Action> {
    match kind {
        Kind::Integration => Some(Action::ManageIntegrations),
        _ => None,
    }
}

/// Does `user`'s workspace role let them manage every resource of `kind`?
pub async fn manages_all<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    kind: Kind,
    user: Uuid,
) -> AppResult<bool> {
    let Some(action) = workspace_managed(kind) else {
        return Ok(false);
    };
    let roles = policy.roles_allowing(Kind::Workspace, action);
    if roles.is_empty() {
        return Ok(false);
    }
    Ok(entity::user::Entity::find_by_id(user)
        .filter(entity::user::Column::WorkspaceRole.is_in(roles.iter().copied()))
        .count(db)
        .await?
        > 0)
}

/// The project route to `resource_ids` of `kind`, as `(id, NULL)` rows
/// beside the `(id, role)` rows of the caller's grants: the datasets of
/// projects `user` collaborates on, or the ontologies those projects use.
fn via_projects(
    backend: DbBackend,
    policy: &Policy,
    kind: Kind,
    resource_ids: &[Uuid],
    user: Uuid,
) -> Option<SelectStatement> {
    let projects = viewable_projects(policy, user);
    let select = match kind {
        Kind::Dataset => Query::select()
            .column(project_dataset::Column::DatasetId)
            .expr(Expr::cust("NULL"))
            .from(project_dataset::Entity)
            .and_where(one_of(
                backend,
                project_dataset::Column::DatasetId,
                resource_ids,
            ))
            .and_where(project_dataset::Column::ProjectId.in_subquery(projects))
            .to_owned(),
        Kind::Ontology => Query::select()
            .column(project::Column::OntologyId)
            .expr(Expr::cust("NULL"))
            .from(project::Entity)
            .and_where(one_of(backend, project::Column::OntologyId, resource_ids))
            .and_where(project::Column::Id.in_subquery(projects))
            .to_owned(),
        _ => return None,
    };
    Some(select)
}

/// The caller's access to many resources of one kind, in one statement
/// whatever their number and however the caller reaches them (integrations:
/// one more, for the caller's workspace role): their roles and, for datasets
/// and ontologies, the read-only route through projects, as one `UNION ALL`.
pub async fn access_many<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    kind: Kind,
    resource_ids: &[Uuid],
    user: Uuid,
) -> AppResult<HashMap<Uuid, Access>> {
    if resource_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut select = held_by(
        policy,
        user,
        grants_on(
            db.get_database_backend(),
            Some(kind),
            resource_ids,
            &[role_grant::Column::ResourceId, role_grant::Column::Role],
        ),
    );
    if let Some(via) = via_projects(db.get_database_backend(), policy, kind, resource_ids, user) {
        select.union(UnionType::All, via);
    }
    let rows: Vec<(Uuid, Option<Role>)> = tuples(db, &select).await?;
    let via_workspace = manages_all(db, policy, kind, user).await?;
    let mut out: HashMap<Uuid, Access> = resource_ids
        .iter()
        .map(|id| {
            let access = Access {
                kind,
                roles: Vec::new(),
                via_project: false,
                via_workspace,
            };
            (*id, access)
        })
        .collect();
    for (id, role) in rows {
        if let Some(access) = out.get_mut(&id) {
            match role {
                Some(role) => access.roles.push(role),
                None => access.via_project = true,
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::QueryTrait;

    fn policy() -> Policy {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(Policy::load(None))
            .unwrap()
    }

    #[test]
    fn statements_are_cut_at_placeholders_outside_quotes_only() {
        assert_eq!(
            split_at_placeholders(
                r#"SELECT "a$1" FROM t WHERE x = $1 AND y = '$2' AND z IN ($2, $3)"#,
                DbBackend::Postgres
            ),
            [
                r#"SELECT "a$1" FROM t WHERE x = "#,
                " AND y = '$2' AND z IN (",
                ", ",
                ")"
            ]
        );
        assert_eq!(
            split_at_placeholders(
                r#"SELECT "a?" FROM t WHERE x = ? AND y = '?' AND z IN (?)"#,
                DbBackend::Sqlite
            ),
            [
                r#"SELECT "a?" FROM t WHERE x = "#,
                " AND y = '?' AND z IN (",
                ")"
            ]
        );
    }

    /// A compiled filter renders as the subquery built for the caller would,
    /// text and bound values alike, on both databases and for every route
    /// (with spaces between the pieces, see `Template`).
    #[test]
    fn compiled_filters_render_as_the_built_subquery() {
        let policy = policy();
        let user = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let view = policy.roles_allowing(Kind::Folder, Action::View);
            let routes: Vec<(Reach, SelectStatement)> = vec![
                (
                    dataset_reach(&policy, backend, user),
                    visible_dataset_select(&policy, user),
                ),
                (
                    ontology_reach(&policy, backend, user),
                    visible_ontology_select(&policy, user),
                ),
                (
                    held_reach(&policy, backend, Kind::Folder, view, user),
                    ids_with_roles_select(&policy, Kind::Folder, view, user),
                ),
            ];
            for (reach, select) in routes {
                let render =
                    |filter: SimpleExpr| dataset::Entity::find().filter(filter).build(backend);
                let same_text = |compiled: &str, built: &str| {
                    let unspaced =
                        |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
                    assert_eq!(unspaced(compiled), unspaced(built), "{backend:?}");
                };
                let compiled = render(reach.contains(dataset::Column::Id));
                let built = render(dataset::Column::Id.in_subquery(select.clone()));
                same_text(&compiled.sql, &built.sql);
                assert_eq!(compiled.values, built.values, "{backend:?}");
                let compiled = render(reach.excludes(dataset::Column::FolderId));
                let built = render(dataset::Column::FolderId.not_in_subquery(select));
                same_text(&compiled.sql, &built.sql);
                assert_eq!(compiled.values, built.values, "{backend:?}");
                assert!(compiled.values.unwrap().0.contains(&Value::from(user)));
            }
        }
    }
}
