//! Keyset pagination over (created_at, id) or (name, id), with a created-at
//! range and a lazily counted total. Rows keep the creation time they were
//! given (imported or seeded rows too), so creation order is read from
//! `created_at`, the id (UUIDv7) only breaking ties.

use std::fmt::Write as _;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{
    Alias, Asterisk, CommonTableExpression, Expr, ExprTrait, JoinType, Query, WithClause,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, IdenStatic,
    Order as SeaOrder, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::service::row::{nullable, place, FromRow};

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// Where a page starts: after the row with this id and, when ordered by
/// name, this name; when ordered by creation, this creation time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub id: Uuid,
    pub name: Option<String>,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How a list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Order {
    /// By the list's name column (title, name or email) instead of creation.
    pub by_name: bool,
    pub descending: bool,
}

/// `first` / `after` / ordering / created range as the client gave them
/// (cursor already decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<Cursor>,
    pub order: Order,
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
    /// The client asked for `totalCount`: lists that can count in the
    /// statement that reads the page do so.
    pub with_total: bool,
}

impl PageArgs {
    pub fn limit(&self) -> AppResult<u64> {
        let first = self.first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(AppError::bad_input(format!(
                "first must be between 0 and {MAX_PAGE_SIZE}"
            )));
        }
        Ok(first as u64)
    }
}

type CountFn = dyn Fn() -> BoxFuture<'static, AppResult<u64>> + Send + Sync;

/// The size of the whole filtered list, counted only when asked for.
#[derive(Clone)]
pub struct TotalCount(Arc<CountFn>);

impl TotalCount {
    pub async fn get(&self) -> AppResult<u64> {
        (self.0)().await
    }

    /// A count already known.
    pub fn known(n: u64) -> TotalCount {
        TotalCount(Arc::new(move || Box::pin(async move { Ok(n) })))
    }

    /// A count computed by `count` when asked for (e.g. through a loader).
    pub fn from_fn(
        count: impl Fn() -> BoxFuture<'static, AppResult<u64>> + Send + Sync + 'static,
    ) -> TotalCount {
        TotalCount(Arc::new(count))
    }

    pub fn of<E>(db: &DatabaseConnection, select: Select<E>) -> TotalCount
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        let db = db.clone();
        TotalCount(Arc::new(move || {
            let db = db.clone();
            let select = select.clone();
            Box::pin(async move { Ok(select.count(&db).await?) })
        }))
    }
}

/// One page of a list.
pub struct Page<M> {
    pub items: Vec<M>,
    /// Each item's cursor, encoded only if the client asks for it.
    pub cursors: Vec<Cursor>,
    pub has_next: bool,
    pub has_previous: bool,
    pub total: TotalCount,
}

impl<M> Page<M> {
    pub fn map<N>(self, f: impl FnMut(M) -> N) -> Page<N> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            cursors: self.cursors,
            has_next: self.has_next,
            has_previous: self.has_previous,
            total: self.total,
        }
    }
}

/// The columns a list is paged by, and how to read them from a row.
pub struct SortKeys<E: EntityTrait> {
    pub id: E::Column,
    pub name: E::Column,
    pub created_at: E::Column,
    pub id_of: fn(&E::Model) -> Uuid,
    pub name_of: fn(&E::Model) -> String,
    pub created_at_of: fn(&E::Model) -> chrono::DateTime<chrono::Utc>,
}

/// `SortKeys` of an entity module with `id`, `created_at` and a name column.
#[macro_export]
macro_rules! sort_keys {
    ($entity:ident, $name:ident, $field:ident) => {
        $crate::service::page::SortKeys::<entity::$entity::Entity> {
            id: entity::$entity::Column::Id,
            name: entity::$entity::Column::$name,
            created_at: entity::$entity::Column::CreatedAt,
            id_of: |m| m.id,
            name_of: |m| m.$field.clone().into(),
            created_at_of: |m| m.created_at,
        }
    };
}

/// `select` narrowed to the requested created range.
fn in_range<E: EntityTrait>(select: Select<E>, keys: &SortKeys<E>, args: &PageArgs) -> Select<E> {
    let mut select = select;
    if let Some(after) = args.created_after {
        select = select.filter(keys.created_at.gte(after));
    }
    if let Some(before) = args.created_before {
        select = select.filter(keys.created_at.lt(before));
    }
    select
}

/// The rows after the cursor, in the requested order.
fn after_cursor<E: EntityTrait>(keys: &SortKeys<E>, args: &PageArgs) -> AppResult<Condition> {
    let descending = args.order.descending;
    let beyond = |column: E::Column, value: sea_orm::Value| {
        if descending {
            column.lt(value)
        } else {
            column.gt(value)
        }
    };
    let Some(after) = &args.after else {
        return Ok(Condition::all());
    };
    Ok(match (args.order.by_name, &after.name, after.created_at) {
        (true, Some(name), None) => Condition::any()
            .add(beyond(keys.name, name.clone().into()))
            .add(
                Condition::all()
                    .add(keys.name.eq(name.clone()))
                    .add(beyond(keys.id, after.id.into())),
            ),
        // One row comparison, which both databases read as a range of
        // the (created_at, id) index.
        (false, None, Some(created_at)) => {
            let row = Expr::tuple([keys.created_at.into_expr(), keys.id.into_expr()]);
            let at = Expr::tuple([Expr::val(created_at), Expr::val(after.id)]);
            Condition::all().add(if descending { row.lt(at) } else { row.gt(at) })
        }
        _ => return Err(AppError::bad_input("after is a cursor of another ordering")),
    })
}

/// The columns a page is ordered by, and the direction.
fn order_of<E: EntityTrait>(keys: &SortKeys<E>, args: &PageArgs) -> ([E::Column; 2], SeaOrder) {
    let first = if args.order.by_name {
        keys.name
    } else {
        keys.created_at
    };
    let direction = if args.order.descending {
        SeaOrder::Desc
    } else {
        SeaOrder::Asc
    };
    ([first, keys.id], direction)
}

/// The page made of `items` (at most `limit + 1` rows read).
fn page_of<E: EntityTrait>(
    mut items: Vec<E::Model>,
    keys: &SortKeys<E>,
    args: &PageArgs,
    limit: u64,
    total: TotalCount,
) -> Page<E::Model> {
    let has_next = items.len() as u64 > limit;
    items.truncate(limit as usize);
    let cursors = items
        .iter()
        .map(|m| {
            let by_name = args.order.by_name;
            Cursor {
                id: (keys.id_of)(m),
                name: by_name.then(|| (keys.name_of)(m)),
                created_at: (!by_name).then(|| (keys.created_at_of)(m)),
            }
        })
        .collect();
    Page {
        items,
        cursors,
        has_next,
        has_previous: args.after.is_some(),
        total,
    }
}

/// Runs `select` as one page in the requested order and created range,
/// reading rows in the order of an index until the page is full: for lists
/// that most rows pass (every dataset of the workspace, a search).
pub async fn paginate<E>(
    db: &DatabaseConnection,
    select: Select<E>,
    keys: SortKeys<E>,
    args: PageArgs,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
{
    let limit = args.limit()?;
    let select = in_range(select, &keys, &args);
    let total = TotalCount::of(db, select.clone());
    let mut query = select.filter(after_cursor(&keys, &args)?);
    let ([first, id], direction) = order_of(&keys, &args);
    query = query
        .order_by(first, direction.clone())
        .order_by(id, direction);
    let items = if limit == 0 {
        Vec::new()
    } else {
        query.limit(limit + 1).all(db).await?
    };
    Ok(page_of(items, &keys, &args, limit, total))
}

/// The name the rows a page is cut from go by in its statement.
const FILTERED: &str = "filtered";

/// Runs `select`, a filter that names few rows by key (those the caller may
/// see: `id IN (their visible ids)`), as one page: the rows it names are read
/// by key once (a materialized CTE), then ordered and cut, and counted in the
/// same statement when the client asked for `totalCount`. Walking an order
/// index instead, as `paginate` does, reads the whole table when the caller
/// sees few rows of it, and the count would read the grants again.
pub async fn paginate_visible<E>(
    db: &DatabaseConnection,
    select: Select<E>,
    keys: SortKeys<E>,
    args: PageArgs,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: FromRow + Sync,
{
    let limit = args.limit()?;
    let select = in_range(select, &keys, &args);
    if limit == 0 {
        let total = TotalCount::of(db, select);
        return Ok(page_of(Vec::new(), &keys, &args, limit, total));
    }
    let table = E::default().table_name().to_owned();
    let mut filtered = CommonTableExpression::new();
    filtered
        .query(select.clone().into_query())
        .table_name(Alias::new(FILTERED))
        .materialized(true);
    // The rows are read under the table's own name, so the columns of the
    // cursor and the order name them as they name the table's.
    let mut page = Query::select();
    page.column((Alias::new(&table), Asterisk));
    let after = after_cursor(&keys, &args)?;
    if args.with_total {
        // One row of the count, joined to the page's rows: the count comes
        // back even when the page is empty (a row of NULLs then).
        page.expr_as(
            Expr::col((Alias::new("c"), Alias::new("n"))),
            Alias::new("total_count"),
        )
        .from_subquery(
            Query::select()
                .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
                .from(Alias::new(FILTERED))
                .to_owned(),
            Alias::new("c"),
        )
        .join_as(
            JoinType::LeftJoin,
            Alias::new(FILTERED),
            Alias::new(&table),
            Condition::all().add(after).add(Expr::cust("1 = 1")),
        );
    } else {
        page.from_as(Alias::new(FILTERED), Alias::new(&table))
            .cond_where(after);
    }
    let ([first, id], direction) = order_of(&keys, &args);
    page.order_by((Alias::new(&table), first), direction.clone())
        .order_by((Alias::new(&table), id), direction);
    let mut with = WithClause::new();
    with.cte(filtered);
    let mut statement = db.get_database_backend().build(&page.with(with));
    // The page size is written, not bound: a client asks for a handful of
    // sizes, and a statement whose only bound values are the caller's is
    // planned once and kept (see `access::fixed`).
    write!(statement.sql, " LIMIT {}", limit + 1).expect("writing to a String");
    let rows = db.query_all_raw(statement).await?;
    let mut counted = None;
    let mut items = Vec::with_capacity(rows.len());
    if let Some(first) = rows.first() {
        let places = E::Model::places(first)?;
        let id = place(first, keys.id.as_str())?;
        let total = if args.with_total {
            Some(place(first, "total_count")?)
        } else {
            None
        };
        for row in &rows {
            if let Some(total) = total {
                counted = Some(row.try_get_by_index::<i64>(total)?);
            }
            // NULL in the one row of an empty page.
            if nullable::<Uuid, _>(row, id)?.is_some() {
                items.push(E::Model::from_row(row, &places)?);
            }
        }
    }
    let total = match counted {
        Some(n) => TotalCount::known(u64::try_from(n).unwrap_or_default()),
        None => TotalCount::of(db, select),
    };
    Ok(page_of(items, &keys, &args, limit, total))
}
