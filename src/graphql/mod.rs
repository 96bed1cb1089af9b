//! The GraphQL API: thin types and resolvers per domain over `service`.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, OutputType, ID};
use uuid::Uuid;

use crate::auth::{Caller, Principal};
use crate::error::{AppError, AppResult};
use crate::ids::{self, Id, Resource};
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
pub mod hooks;
pub mod import;
pub mod integration;
pub mod lanes;
pub mod limits;
pub mod loaders;
pub mod node;
pub mod ontology;
pub mod order;
pub mod project;
pub mod resource;
pub mod schema;
pub mod subscription;
pub mod user;

pub use lanes::AppSchema;
pub use schema::build_schema;

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

/// Who makes a request, as the transports attached it (before it runs).
fn principal_of(request: &async_graphql::Request) -> Option<&Principal> {
    request
        .data
        .get(&std::any::TypeId::of::<Principal>())
        .and_then(|p| p.downcast_ref::<Principal>())
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

/// Decodes a global ID of type `R`; anything else is BAD_USER_INPUT.
pub fn parse_id<R: Resource>(id: &ID, field: &str) -> AppResult<Id<R>> {
    Id::decode(id.as_str())
        .ok_or_else(|| AppError::bad_input(format!("{field} is not a valid {} ID", R::TYPE_NAME)))
}

pub fn parse_ids<R: Resource>(ids: &[ID], field: &str) -> AppResult<Vec<Id<R>>> {
    ids.iter().map(|id| parse_id(id, field)).collect()
}

/// The global ID of a resource of type `R`.
pub fn global_id<R: Resource>(uuid: Uuid) -> ID {
    ID(Id::<R>::new(uuid).encode())
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
pub type Conn<T> = Connection<PageCursor, T, ConnectionFields>;

/// An edge's cursor, encoded when a client selects it (`cursor`,
/// `pageInfo.startCursor` / `endCursor`), not for every item of every page.
pub struct PageCursor(crate::service::page::Cursor);

impl async_graphql::connection::CursorType for PageCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        crate::ids::decode_cursor(s)
            .map(PageCursor)
            .ok_or("not a cursor of this server")
    }

    fn encode_cursor(&self) -> String {
        crate::ids::encode_cursor(&self.0)
    }
}

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
        .map(|(m, cursor)| Edge::new(PageCursor(cursor), wrap(m)))
        .collect();
    conn
}

/// Declares a query object (`#[Object] impl $Query`) whose top-level lists
/// share one shape. Each field in `paged { … }`, written
///
/// ```ignore
/// /// Docs of the field.
/// fn datasets(ctx, #[graphql(desc = "…")] search: Option<String>, ..page,
///             #[graphql(desc = "…")] my_role: Option<Vec<DatasetRole>>) -> Dataset {
///     /* `page` is the decoded `PageArgs`; answer a `Conn<Dataset>` */
/// }
/// ```
///
/// takes the arguments before `..page`, then `first`, `after`, `orderBy`,
/// `createdAfter` and `createdBefore` (documented here, once), then the
/// arguments after it, and costs `first` times its children. The fields in
/// `before { … }` and after the block are ordinary resolvers, kept in order.
/// (One expansion for the whole object: the complexity expression must see
/// the arguments and async-graphql's `child_complexity` alike.)
#[macro_export]
macro_rules! query_object {
    (
        impl $Query:ident {
            $(before { $($before_items:tt)* })?
            paged {
                $(
                    $(#[$meta:meta])*
                    fn $name:ident(
                        $ctx:ident,
                        $($(#[$before_meta:meta])* $before:ident: $Before:ty,)*
                        ..$page:ident
                        $(, $(#[$after_meta:meta])* $after:ident: $After:ty)* $(,)?
                    ) -> $Node:ty $body:block
                )+
            }
            $($after_items:tt)*
        }
    ) => {
        #[async_graphql::Object]
        impl $Query {
            $($($before_items)*)?
            $(
                $(#[$meta])*
                #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
                #[allow(clippy::too_many_arguments)] // one per GraphQL argument
                async fn $name(
                    &self,
                    $ctx: &async_graphql::Context<'_>,
                    $($(#[$before_meta])* $before: $Before,)*
                    #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
                    #[graphql(desc = "Cursor of the last item of the previous page.")]
                    after: Option<String>,
                    #[graphql(desc = "Order (default: creation time, oldest first).")]
                    order_by: Option<$crate::graphql::ListOrder>,
                    #[graphql(desc = "Only items created at or after this time.")]
                    created_after: Option<chrono::DateTime<chrono::Utc>>,
                    #[graphql(desc = "Only items created before this time.")]
                    created_before: Option<chrono::DateTime<chrono::Utc>>,
                    $($(#[$after_meta])* $after: $After,)*
                ) -> async_graphql::Result<$crate::graphql::Conn<$Node>> {
                    let $page = $crate::graphql::ListArgs {
                        first,
                        after,
                        order_by,
                        created_after,
                        created_before,
                    }
                    .into_counted_page($ctx)?;
                    $body
                }
            )+
            $($after_items)*
        }
    };
}

/// Maps a GraphQL enum to the stored enum it stands for, variant by
/// variant: `From` one way, `TryFrom` (the stored value back) the other. The
/// GraphQL spelling of a value and its stored spelling are thus independent.
#[macro_export]
macro_rules! stored_as {
    ($Api:ident => $Stored:ident { $($api:ident => $stored:ident),+ $(,)? }) => {
        impl From<$Api> for $Stored {
            fn from(value: $Api) -> $Stored {
                match value {
                    $($Api::$api => $Stored::$stored,)+
                }
            }
        }

        impl TryFrom<$Stored> for $Api {
            type Error = $Stored;

            fn try_from(value: $Stored) -> Result<$Api, $Stored> {
                match value {
                    $($Stored::$stored => Ok($Api::$api),)+
                    #[allow(unreachable_patterns)]
                    other => Err(other),
                }
            }
        }
    };
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
