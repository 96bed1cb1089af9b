//! Keyset pagination over UUIDv7 primary keys (time-ordered, so "after this
//! id" is "created after this row"), with a lazily counted total.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// `first` / `after` as the client gave them (cursor already decoded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<Uuid>,
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
    pub has_next: bool,
    pub has_previous: bool,
    pub total: TotalCount,
}

impl<M> Page<M> {
    pub fn map<N>(self, f: impl FnMut(M) -> N) -> Page<N> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
            total: self.total,
        }
    }
}

/// Runs `select` as one page ordered by `id`.
pub async fn paginate<E, C>(
    db: &DatabaseConnection,
    select: Select<E>,
    id: C,
    args: PageArgs,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ColumnTrait,
{
    let limit = args.limit()?;
    let total = TotalCount::of(db, select.clone());
    let mut query = select;
    if let Some(after) = args.after {
        query = query.filter(id.gt(after));
    }
    let mut items = if limit == 0 {
        Vec::new()
    } else {
        query.order_by_asc(id).limit(limit + 1).all(db).await?
    };
    let has_next = items.len() as u64 > limit;
    items.truncate(limit as usize);
    Ok(Page {
        items,
        has_next,
        has_previous: args.after.is_some(),
        total,
    })
}
