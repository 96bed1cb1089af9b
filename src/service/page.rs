//! Keyset pagination over (created_at, id) or (name, id), with a created-at
//! range and a lazily counted total. Rows keep the creation time they were
//! given (imported or seeded rows too), so creation order is read from
//! `created_at`, the id (UUIDv7) only breaking ties.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, Order as SeaOrder, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

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
    /// The opaque cursor of each item.
    pub cursors: Vec<String>,
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

/// Runs `select` as one page in the requested order and created range.
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
    let mut select = select;
    if let Some(after) = args.created_after {
        select = select.filter(keys.created_at.gte(after));
    }
    if let Some(before) = args.created_before {
        select = select.filter(keys.created_at.lt(before));
    }
    let total = TotalCount::of(db, select.clone());
    let descending = args.order.descending;
    let beyond = |column: E::Column, value: sea_orm::Value| {
        if descending {
            column.lt(value)
        } else {
            column.gt(value)
        }
    };
    let mut query = select;
    if let Some(after) = &args.after {
        query = match (args.order.by_name, &after.name, after.created_at) {
            (true, Some(name), None) => query.filter(
                Condition::any()
                    .add(beyond(keys.name, name.clone().into()))
                    .add(
                        Condition::all()
                            .add(keys.name.eq(name.clone()))
                            .add(beyond(keys.id, after.id.into())),
                    ),
            ),
            // One row comparison, which both databases read as a range of
            // the (created_at, id) index.
            (false, None, Some(created_at)) => {
                let row = Expr::tuple([keys.created_at.into_expr(), keys.id.into_expr()]);
                let at = Expr::tuple([Expr::val(created_at), Expr::val(after.id)]);
                query.filter(if descending { row.lt(at) } else { row.gt(at) })
            }
            _ => return Err(AppError::bad_input("after is a cursor of another ordering")),
        };
    }
    let direction = if descending {
        SeaOrder::Desc
    } else {
        SeaOrder::Asc
    };
    query = if args.order.by_name {
        query.order_by(keys.name, direction.clone())
    } else {
        query.order_by(keys.created_at, direction.clone())
    };
    let mut items = if limit == 0 {
        Vec::new()
    } else {
        query
            .order_by(keys.id, direction)
            .limit(limit + 1)
            .all(db)
            .await?
    };
    let has_next = items.len() as u64 > limit;
    items.truncate(limit as usize);
    let cursors = items
        .iter()
        .map(|m| {
            let by_name = args.order.by_name;
            crate::ids::encode_cursor(&Cursor {
                id: (keys.id_of)(m),
                name: by_name.then(|| (keys.name_of)(m)),
                created_at: (!by_name).then(|| (keys.created_at_of)(m)),
            })
        })
        .collect();
    Ok(Page {
        items,
        cursors,
        has_next,
        has_previous: args.after.is_some(),
        total,
    })
}
