//! The GraphQL API: thin types and resolvers per domain over `service`.

use async_graphql::connection::{Connection, Edge};
use async_graphql::resolver_utils::EnumType;
use async_graphql::{Context, Object, OutputType, ID};
use uuid::Uuid;

use crate::auth::{Caller, Principal};
use crate::error::{AppError, AppResult};
use crate::ids;
use crate::service::page::{Order, Page, PageArgs, TotalCount};
use crate::service::Services;

pub mod audit;
pub mod batcher;
pub mod collaborators;
pub mod dataset;
pub mod document;
pub mod file;
pub mod folder;
pub mod group;
pub mod import;
pub mod integration;
pub mod limits;
pub mod loaders;
pub mod node;
pub mod ontology;
pub mod order;
pub mod project;
pub mod schema;
pub mod subscription;
pub mod user;

pub use schema::{build_schema, AppSchema};

/// The services every resolver calls.
pub fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// The authenticated caller, or UNAUTHENTICATED.
pub fn caller<'a>(ctx: &Context<'a>) -> AppResult<&'a Caller> {
    match ctx.data_opt::<Principal>() {
        Some(p) => p.caller(),
        None => Err(AppError::unauthenticated()),
    }
}

/// Both at once, for resolvers that need the caller.
pub fn scope<'a>(ctx: &Context<'a>) -> AppResult<(&'a Services, &'a Caller)> {
    Ok((services(ctx), caller(ctx)?))
}

/// The request's loaders (present for every authenticated caller).
pub fn loaders<'a>(ctx: &Context<'a>) -> AppResult<&'a std::sync::Arc<loaders::Loaders>> {
    ctx.data_opt::<std::sync::Arc<loaders::Loaders>>()
        .ok_or_else(AppError::unauthenticated)
}

/// Decodes a global ID of the given type; anything else is BAD_USER_INPUT.
pub fn parse_id(id: &ID, type_name: &str, field: &str) -> AppResult<Uuid> {
    match ids::decode(id.as_str()) {
        Some((ty, uuid)) if ty == type_name => Ok(uuid),
        _ => Err(AppError::bad_input(format!(
            "{field} is not a valid {type_name} ID"
        ))),
    }
}

pub fn parse_ids(ids: &[ID], type_name: &str, field: &str) -> AppResult<Vec<Uuid>> {
    ids.iter()
        .map(|id| parse_id(id, type_name, field))
        .collect()
}

pub fn global_id(type_name: &str, id: Uuid) -> ID {
    ID(ids::encode(type_name, id))
}

/// `first` / `after` from the client, with the cursor decoded.
pub fn page_args(first: Option<i32>, after: Option<String>) -> AppResult<PageArgs> {
    let after = match after {
        Some(cursor) => Some(
            ids::decode_cursor(&cursor)
                .ok_or_else(|| AppError::bad_input("after is not a valid cursor"))?,
        ),
        None => None,
    };
    Ok(PageArgs {
        first,
        after,
        ..PageArgs::default()
    })
}

/// Which column a list is ordered by.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ListOrderField {
    /// Creation time (the default).
    CreatedAt,
    /// The title of datasets, projects and ontologies; the name of folders
    /// and groups; the email of users; the action of audit events.
    Name,
}

/// Ascending or descending.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderDirection {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// The order of a list.
#[derive(async_graphql::InputObject, Debug, Clone, Copy)]
pub struct ListOrder {
    /// The column to order by.
    pub field: ListOrderField,
    /// The direction.
    #[graphql(default_with = "OrderDirection::Asc")]
    pub direction: OrderDirection,
}

/// Arguments every top-level list takes besides `search`.
#[derive(Default)]
pub struct ListArgs {
    /// Page size (default 20, at most 100).
    pub first: Option<i32>,
    /// Cursor of the last item of the previous page.
    pub after: Option<String>,
    /// Order (default: creation time, oldest first).
    pub order_by: Option<ListOrder>,
    /// Only items created at or after this time.
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Only items created before this time.
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
}

impl ListArgs {
    /// The page, noting whether the field's selection asks for `totalCount`
    /// (lists that can count in the statement that reads the page do so).
    pub fn into_counted_page(self, ctx: &Context<'_>) -> AppResult<PageArgs> {
        let mut page = self.into_page()?;
        page.with_total = ctx.look_ahead().field("totalCount").exists();
        Ok(page)
    }

    pub fn into_page(self) -> AppResult<PageArgs> {
        let mut page = page_args(self.first, self.after)?;
        if let Some(order) = self.order_by {
            page.order = Order {
                by_name: order.field == ListOrderField::Name,
                descending: order.direction == OrderDirection::Desc,
            };
        }
        if let (Some(a), Some(b)) = (self.created_after, self.created_before) {
            if a >= b {
                return Err(AppError::bad_input(
                    "createdAfter must be before createdBefore",
                ));
            }
        }
        page.created_after = self.created_after;
        page.created_before = self.created_before;
        Ok(page)
    }
}

/// Fields every connection carries beside `edges`, `nodes` and `pageInfo`.
pub struct ConnectionFields {
    total: TotalCount,
}

#[Object]
impl ConnectionFields {
    /// The number of items in the whole list (all pages), counted on request.
    async fn total_count(&self) -> async_graphql::Result<u64> {
        Ok(self.total.get().await?)
    }
}

/// A Relay connection of `T` with `totalCount`.
pub type Conn<T> = Connection<String, T, ConnectionFields>;

/// Turns a page of models into a connection of GraphQL nodes.
pub fn connection<M, T: OutputType>(page: Page<M>, wrap: impl Fn(M) -> T) -> Conn<T> {
    let mut conn = Connection::with_additional_fields(
        page.has_previous,
        page.has_next,
        ConnectionFields { total: page.total },
    );
    conn.edges = page
        .items
        .into_iter()
        .zip(page.cursors)
        .map(|(m, cursor)| Edge::new(cursor, wrap(m)))
        .collect();
    conn
}

/// The GraphQL name of an enum value (role and kind columns store these).
pub fn enum_name<E: EnumType + PartialEq + Copy>(value: E) -> &'static str {
    E::items()
        .iter()
        .find(|item| item.value == value)
        .map(|item| item.name)
        .unwrap_or_default()
}

/// The enum value stored as `name`, if it is one.
pub fn enum_value<E: EnumType + Copy>(name: &str) -> Option<E> {
    E::items()
        .iter()
        .find(|item| item.name == name)
        .map(|item| item.value)
}

/// The answer of a nullable field that failed: `null` in `data` and the
/// error in `errors`, as the GraphQL spec asks (async-graphql would drop the
/// field from `data` instead).
pub fn or_null<T>(ctx: &Context<'_>, result: AppResult<T>) -> async_graphql::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) => {
            let err: async_graphql::Error = err.into();
            ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
            Ok(None)
        }
    }
}

/// What a field of an object's contents answers when the object was reached
/// without view access (a workspace ADMIN listing datasets they have not
/// joined, a payload after the caller removed their own role): `hidden`
/// (null, an empty list or connection) in `data`, and NOT_FOUND on the field
/// in `errors`, as for a resource that does not exist.
pub fn hidden<T>(ctx: &Context<'_>, what: &str, hidden: T) -> async_graphql::Result<T> {
    let err: async_graphql::Error = AppError::not_found(what).into();
    ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
    Ok(hidden)
}

/// An empty connection, for lists the caller may not see.
pub fn empty_connection<T: OutputType>() -> Conn<T> {
    Connection::with_additional_fields(
        false,
        false,
        ConnectionFields {
            total: TotalCount::from_fn(|| Box::pin(async { Ok(0) })),
        },
    )
}
