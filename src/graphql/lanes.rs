//! The schema the transports run: two async-graphql schemas over the same
//! types. The hooked one runs every request through the request's
//! extension (`hooks`); the plain one, without extensions, runs the queries
//! whose text, operation and variables the hooked one already checked and
//! validated.
//!
//! async-graphql calls the `resolve` hook of a schema's extensions for every
//! field and list item of an answer as soon as the schema has one, building
//! each one's type information for it (registry lookups, type names
//! formatted anew) whatever the hook does. The hooks do work per field only
//! for mutations (each top-level field's share of the time limit). A query
//! seen before skips that cost: it runs on the plain schema with what the
//! hooked run remembered (its document with repeated fields merged, its
//! field count and the order of its answer's fields) and the same loaders,
//! batches and time limit; the plain schema still checks its depth and
//! complexity. The first run of a document, anything over the caller's
//! budget, mutations and subscriptions take the hooked schema.

use std::sync::Arc;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::{Request, Response, Schema};

use super::limits::{self, Limits, Ready};
use super::loaders::RequestScope;
use super::schema::{Mutation, Query};
use super::subscription::Subscription;
use crate::service::Services;

/// One async-graphql schema of the API.
pub type Lane = Schema<Query, Mutation, Subscription>;

#[derive(Clone)]
pub struct AppSchema {
    hooked: Lane,
    plain: Lane,
    limits: Limits,
}

impl AppSchema {
    /// `hooked` runs requests through `limits`' extension; `plain` is the
    /// same schema without extensions.
    pub(super) fn new(hooked: Lane, plain: Lane, limits: Limits) -> Self {
        AppSchema {
            hooked,
            plain,
            limits,
        }
    }

    /// Runs a query or mutation.
    pub async fn execute(&self, request: impl Into<Request>) -> Response {
        let request = request.into();
        match self.limits.ready(&request) {
            Some(ready) => self.run_ready(request, ready).await,
            None => self.hooked.execute(request).await,
        }
    }

    /// Runs a subscription (or any operation) as a stream of answers.
    pub fn execute_stream(&self, request: impl Into<Request>) -> BoxStream<'static, Response> {
        self.hooked.execute_stream(request)
    }

    /// The schema's SDL.
    pub fn sdl(&self) -> String {
        self.hooked.sdl()
    }

    /// Runs a query checked and validated before, as the hooks would.
    async fn run_ready(&self, mut request: Request, ready: Arc<Ready>) -> Response {
        request.set_parsed_query(ready.document.clone());
        let scope = RequestScope::default();
        scope.prepare(self.plain.data::<Services>(), &mut request);
        let query = limits::within_time(self.limits.timeout, self.plain.execute(request));
        let mut response = scope.drive(query).await;
        if let Some(shape) = &ready.shape {
            shape.apply_to(&mut response);
        }
        response
    }
}
