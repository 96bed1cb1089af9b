//! Query limits beyond depth and complexity (which the schema enforces):
//! how many aliases, tokens and fields a document may use (a stricter
//! budget without a token), what its input values may hold, and how long an
//! operation may run. Repeated fields are merged here before validation and
//! execution (see `document.rs`).
//!
//! Time: a query (whose fields change nothing) is stopped as a whole when it
//! runs longer than the request timeout. A mutation's top-level fields run
//! one after the other, each committing its own changes; each is given the
//! time left of the request timeout. The answer tells what happened to each:
//! the fields that finished keep their data, the one stopped answers null
//! with a `TIMEOUT` error, and those that never started answer null with a
//! `TIMEOUT` error saying they did not run. A client retries only those.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{PathSegment, Response, ServerError, ServerResult, Value, Variables};

use super::document::{self, Budget};
use crate::auth::Principal;

/// Refuses documents with more than `max_aliases` aliased fields, over the
/// caller's budget of tokens and fields, or with input values too deep or
/// holding U+0000; merges repeated fields; stops queries that run longer
/// than `timeout`, and each top-level field of a mutation that runs past it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_aliases: usize,
    pub timeout: Duration,
    /// When false, `__schema` and `__type` are refused with a clear error.
    pub introspection: bool,
    /// The budget of a signed-in caller.
    pub budget: Budget,
    /// The budget of a request without a token.
    pub anonymous: Budget,
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Run {
            limits: *self,
            operations: OnceLock::new(),
            deadline: OnceLock::new(),
            stopped: Mutex::default(),
        })
    }
}

/// The limits applied to one request.
struct Run {
    limits: Limits,
    /// The operations of the document: name and whether it is a mutation.
    operations: OnceLock<Vec<(Option<String>, bool)>>,
    /// While a mutation runs: when its time is up.
    deadline: OnceLock<Instant>,
    /// Errors of the mutation fields stopped or not run, in field order.
    stopped: Mutex<Vec<ServerError>>,
}

impl Run {
    fn is_mutation(&self, operation_name: Option<&str>) -> bool {
        let operations = self.operations.get().map(Vec::as_slice).unwrap_or_default();
        match operation_name {
            Some(name) => operations
                .iter()
                .any(|(n, mutation)| *mutation && n.as_deref() == Some(name)),
            None => matches!(operations, [(_, true)]),
        }
    }
}

fn timeout_error(message: String, field: Option<&str>) -> ServerError {
    let mut error = ServerError::new(message, None);
    if let Some(field) = field {
        error.path = vec![PathSegment::Field(field.to_owned())];
    }
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "TIMEOUT");
    error.extensions = Some(extensions);
    error
}

fn aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn introspects(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            matches!(field.node.name.node.as_str(), "__schema" | "__type")
                || introspects(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => introspects(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

/// Does any operation or fragment of the document introspect the schema?
pub fn uses_introspection(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .any(|(_, op)| introspects(&op.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|f| introspects(&f.node.selection_set.node))
}

/// Aliased fields in every operation and fragment of a document.
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| aliases(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| aliases(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

#[async_graphql::async_trait::async_trait]
impl Extension for Run {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let budget = match ctx.data_opt::<Principal>() {
            Some(Principal::User(_)) => self.limits.budget,
            _ => self.limits.anonymous,
        };
        // The transports parse within the signed-in budget; this holds the
        // text to the caller's own before the parser runs when they did not.
        document::check_text(query, budget.max_tokens)?;
        let mut document = next.run(ctx, query, variables).await?;
        if !self.limits.introspection && uses_introspection(&document) {
            return Err(document::refusal(
                "introspection is disabled on this server".to_owned(),
            ));
        }
        let used = count_aliases(&document);
        if used > self.limits.max_aliases {
            return Err(document::refusal(format!(
                "the document uses {used} aliases; at most {} are allowed",
                self.limits.max_aliases
            )));
        }
        document::check_fields(&document, budget.max_fields)?;
        document::check_inputs(&document, variables)?;
        document::merge_repeated_fields(&mut document);
        let operations = match &document.operations {
            DocumentOperations::Single(op) => vec![(None, op.node.ty == OperationType::Mutation)],
            DocumentOperations::Multiple(ops) => ops
                .iter()
                .map(|(name, op)| {
                    (
                        Some(name.to_string()),
                        op.node.ty == OperationType::Mutation,
                    )
                })
                .collect(),
        };
        // Set once: a request parses one document.
        let _ = self.operations.set(operations);
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let timeout = self.limits.timeout;
        if self.is_mutation(operation_name) {
            // Each top-level field is timed in `resolve`.
            let _ = self.deadline.set(Instant::now() + timeout);
            let mut response = next.run(ctx, operation_name).await;
            let stopped = std::mem::take(&mut *self.stopped.lock().expect("stopped fields"));
            response.errors.extend(stopped);
            return response;
        }
        match tokio::time::timeout(timeout, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => Response::from_errors(vec![timeout_error(
                format!("the query ran longer than {timeout:?} and was stopped"),
                None,
            )]),
        }
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let Some(deadline) = self
            .deadline
            .get()
            .filter(|_| info.path_node.parent.is_none())
            .copied()
        else {
            return next.run(ctx, info).await;
        };
        // A top-level field of a mutation: given the time left.
        let field = info.alias.unwrap_or(info.name).to_owned();
        let timeout = self.limits.timeout;
        let left = deadline.saturating_duration_since(Instant::now());
        let error = if left.is_zero() {
            timeout_error(
                format!(
                    "not run: the mutation reached its time limit ({timeout:?}) before this \
                     field started, so nothing of this field was done; the fields before it \
                     that answered data were done and kept"
                ),
                Some(&field),
            )
        } else {
            match tokio::time::timeout(left, next.run(ctx, info)).await {
                Ok(result) => return result,
                Err(_) => timeout_error(
                    format!(
                        "stopped: this field was still running when the mutation reached its \
                         time limit ({timeout:?}); the fields before it that answered data \
                         were done and kept, those after it did not run; what this field had \
                         saved before it was stopped may be kept, so look before retrying it"
                    ),
                    Some(&field),
                ),
            }
        };
        self.stopped.lock().expect("stopped fields").push(error);
        Ok(Some(Value::Null))
    }
}
