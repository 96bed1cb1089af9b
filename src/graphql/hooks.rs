//! The one extension every request of the hooked schema runs through: the
//! caller's loaders (`loaders`), the query limits (`limits`) and the order of
//! the answer's fields (`order`), each a part kept in its own module. Queries
//! seen before run without it, with the same parts (see `lanes`).
//!
//! One extension rather than one per concern: async-graphql passes every
//! field of every response through the `resolve` hook of each extension (a
//! boxed future per extension per field, whatever the extension does), so
//! the number of extensions is paid for on every field. The parts run in a
//! fixed order: the selection order outermost (it reorders the finished
//! answer), then the loaders' scope (it drives the batches of everything
//! inside), then the limits, next to async-graphql's own steps (the timeout
//! covers only the operation).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextResolve, NextSubscribe, NextValidation, ResolveInfo,
};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use super::limits::{self, Limits};
use super::loaders::RequestScope;
use super::order::SelectionOrder;

/// Makes each request's [`Hooks`] under the schema's limits.
pub struct RequestHooks(pub Limits);

impl ExtensionFactory for RequestHooks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Hooks {
            order: SelectionOrder::default(),
            scope: RequestScope::default(),
            limits: self.0.run(),
        })
    }
}

/// The extension of one request.
struct Hooks {
    order: SelectionOrder,
    scope: RequestScope,
    limits: limits::Run,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Hooks {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.order.remember_operation(&request);
        self.scope.prepare(ctx.data_opt(), &mut request);
        self.limits.prepare_request(ctx, request, next).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = self.limits.parse_query(ctx, query, variables, next).await?;
        self.order.remember_shape(&document);
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        self.limits.validation(ctx, next).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let operation = self.limits.execute(ctx, operation_name, next);
        let mut response = self.scope.execute(ctx, operation).await;
        self.order.apply(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        self.order
            .apply_to_stream(self.scope.subscribe(next.run(ctx, stream)))
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        self.limits.resolve(ctx, info, next).await
    }
}
