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

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    ExtensionContext, NextExecute, NextParseQuery, NextPrepareRequest, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{
    PathSegment, Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use async_graphql_value::ConstValue;

use super::document::{self, Budget, PARSED_MAX_TEXT};
use super::order::Shape;
use crate::auth::Principal;
use crate::recent::Recent;

/// Refuses documents with more than `max_aliases` aliased fields, over the
/// caller's budget of tokens and fields, or with input values too deep or
/// holding U+0000; merges repeated fields; stops queries that run longer
/// than `timeout`, and each top-level field of a mutation that runs past it.
/// Remembers which documents passed validation (see [`Validated`]).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_aliases: usize,
    pub timeout: Duration,
    /// When false, `__schema` and `__type` are refused with a clear error.
    pub introspection: bool,
    /// The budget of a signed-in caller.
    pub budget: Budget,
    /// The budget of a request without a token.
    pub anonymous: Budget,
    /// Documents of this schema that passed validation.
    pub validated: Validated,
}

impl Limits {
    /// The limits of one request.
    pub(super) fn run(&self) -> Run {
        Run {
            limits: self.clone(),
            operation_name: OnceLock::new(),
            validation_key: Mutex::default(),
            ready: Mutex::default(),
            operations: OnceLock::new(),
            deadline: OnceLock::new(),
            stopped: Mutex::default(),
        }
    }
}

/// How many validated documents [`Validated`] keeps.
pub const VALIDATED_ENTRIES: usize = 512;

/// The most variable data (string bytes and values) a remembered validation
/// may carry; requests with more are validated every time.
const VALIDATED_MAX_VARIABLES: usize = 4 * 1024;

/// What validation found for the documents of one schema that passed it,
/// by text, operation name and variables (complexity and some rules read the
/// variables). Validation depends on nothing else: the schema and its limits
/// are fixed, and the document is the same function of its text on every
/// request. A document that fails is validated every time, so that its
/// errors are the validator's own.
#[derive(Clone)]
pub struct Validated(Arc<Recent<ValidationKey, Arc<Known>>>);

/// A document that passed the checks and validation for one operation and
/// set of variables.
pub(super) struct Known {
    result: ValidationResult,
    /// When the operation is a query: what it needs to run again without
    /// being checked (see `lanes`).
    ready: Option<Arc<Ready>>,
}

/// A query checked and validated, as it runs: its document with repeated
/// fields merged, how many fields it selects (the budgets differ by caller)
/// and the order of its answer's fields.
pub(super) struct Ready {
    pub document: ExecutableDocument,
    fields: usize,
    pub shape: Option<Arc<Shape>>,
}

impl Default for Validated {
    fn default() -> Self {
        Validated(Arc::new(Recent::new(VALIDATED_ENTRIES)))
    }
}

impl std::fmt::Debug for Validated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validated")
            .field("entries", &self.0.len())
            .finish()
    }
}

impl Limits {
    /// The budget of the request's caller.
    fn budget_of(&self, principal: Option<&Principal>) -> Budget {
        match principal {
            Some(Principal::User(_)) => self.budget,
            _ => self.anonymous,
        }
    }

    /// The remembered form of a query this schema already checked and
    /// validated with the same text, operation and variables, when the
    /// request's caller is within its budget; `None` sends the request
    /// through every check.
    pub(super) fn ready(&self, request: &Request) -> Option<Arc<Ready>> {
        let key = ValidationKey::of(
            &request.query,
            request.operation_name.as_deref(),
            &request.variables,
        )?;
        let ready = self.validated.0.get(&key)?.ready.clone()?;
        let budget = self.budget_of(super::principal_of(request));
        // The transports parse within a signed-in caller's budget: this
        // holds the document to the caller's own, as `parse_query` does.
        let within = document::check_text(&request.query, budget.max_tokens).is_ok()
            && ready.fields <= budget.max_fields;
        within.then_some(ready)
    }
}

impl Validated {
    /// How many validations are remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A document's text, the operation asked for, and the variables.
#[derive(PartialEq, Eq)]
pub struct ValidationKey {
    text: Box<str>,
    operation_name: Option<String>,
    variables: Variables,
}

impl ValidationKey {
    /// The key of a request, unless its text or variables are too large to
    /// keep.
    fn of(text: &str, operation_name: Option<&str>, variables: &Variables) -> Option<Self> {
        if text.len() > PARSED_MAX_TEXT {
            return None;
        }
        let mut size = 0;
        for (name, value) in variables.iter() {
            size += name.len() + value_size(value, VALIDATED_MAX_VARIABLES)?;
            if size > VALIDATED_MAX_VARIABLES {
                return None;
            }
        }
        Some(ValidationKey {
            text: text.into(),
            operation_name: operation_name.map(str::to_owned),
            variables: variables.clone(),
        })
    }
}

/// Bytes and values in `value`, or `None` past `limit`.
fn value_size(value: &ConstValue, limit: usize) -> Option<usize> {
    let size = match value {
        ConstValue::String(s) => s.len(),
        ConstValue::Enum(s) => s.len(),
        ConstValue::Binary(b) => b.len(),
        ConstValue::List(items) => items.iter().try_fold(1usize, |total, item| {
            Some(total + value_size(item, limit)?).filter(|t| *t <= limit)
        })?,
        ConstValue::Object(map) => map.iter().try_fold(1usize, |total, (k, v)| {
            Some(total + k.len() + value_size(v, limit)?).filter(|t| *t <= limit)
        })?,
        ConstValue::Null | ConstValue::Number(_) | ConstValue::Boolean(_) => 1,
    };
    Some(size).filter(|s| *s <= limit)
}

impl Hash for ValidationKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
        self.operation_name.hash(state);
        // Variables are equal whatever the order of their names (and of the
        // keys of objects), and an enum equals the string of its name: the
        // hash agrees with that equality.
        self.variables.len().hash(state);
        for value in self.variables.values() {
            hash_value(value, state);
        }
    }
}

fn hash_value<H: Hasher>(value: &ConstValue, state: &mut H) {
    match value {
        ConstValue::Null => 0u8.hash(state),
        ConstValue::Number(_) => 1u8.hash(state),
        ConstValue::String(s) => (2u8, s.as_str()).hash(state),
        ConstValue::Enum(s) => (2u8, s.as_str()).hash(state),
        ConstValue::Boolean(b) => (3u8, b).hash(state),
        ConstValue::Binary(b) => (4u8, &b[..]).hash(state),
        ConstValue::List(items) => {
            (5u8, items.len()).hash(state);
            for item in items {
                hash_value(item, state);
            }
        }
        ConstValue::Object(map) => (6u8, map.len()).hash(state),
    }
}

/// The limits applied to one request: the part of the request's extension
/// (`hooks`) that runs innermost, next to async-graphql's own steps.
pub(super) struct Run {
    limits: Limits,
    /// The operation the request asks for.
    operation_name: OnceLock<Option<String>>,
    /// Where the validation of this request is remembered, when it may be.
    validation_key: Mutex<Option<ValidationKey>>,
    /// What a query needs to run again once it passes validation.
    ready: Mutex<Option<Arc<Ready>>>,
    /// The operations of the document: name and type.
    operations: OnceLock<Vec<(Option<String>, OperationType)>>,
    /// While a mutation runs: when its time is up.
    deadline: OnceLock<Instant>,
    /// Errors of the mutation fields stopped or not run, in field order.
    stopped: Mutex<Vec<ServerError>>,
}

impl Run {
    /// The type of the operation `operation_name` selects.
    fn selected(&self, operation_name: Option<&str>) -> Option<OperationType> {
        let operations = self.operations.get().map(Vec::as_slice).unwrap_or_default();
        match operation_name {
            Some(name) => operations
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name))
                .map(|(_, ty)| *ty),
            None => match operations {
                [(_, ty)] => Some(*ty),
                _ => None,
            },
        }
    }

    fn is_mutation(&self, operation_name: Option<&str>) -> bool {
        self.selected(operation_name) == Some(OperationType::Mutation)
    }
}

/// Runs a query within `timeout`: its answer, or a `TIMEOUT` error when it
/// ran longer.
pub(super) async fn within_time(
    timeout: Duration,
    query: impl std::future::Future<Output = Response>,
) -> Response {
    match tokio::time::timeout(timeout, query).await {
        Ok(response) => response,
        Err(_) => Response::from_errors(vec![timeout_error(
            format!("the query ran longer than {timeout:?} and was stopped"),
            None,
        )]),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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

impl Run {
    pub(super) async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = next.run(ctx, request).await?;
        let _ = self.operation_name.set(request.operation_name.clone());
        Ok(request)
    }

    pub(super) async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let budget = self.limits.budget_of(ctx.data_opt::<Principal>());
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
        let fields = document::count_fields(&document);
        document::fields_within(fields, budget.max_fields)?;
        document::check_inputs(&document, variables)?;
        document::merge_repeated_fields(&mut document);
        let operations = match &document.operations {
            DocumentOperations::Single(op) => vec![(None, op.node.ty)],
            DocumentOperations::Multiple(ops) => ops
                .iter()
                .map(|(name, op)| (Some(name.to_string()), op.node.ty))
                .collect(),
        };
        // Set once: a request parses one document.
        let _ = self.operations.set(operations);
        let operation_name = self.operation_name.get().and_then(Option::as_deref);
        if let Some(key) = ValidationKey::of(query, operation_name, variables) {
            *lock(&self.validation_key) = Some(key);
            if self.selected(operation_name) == Some(OperationType::Query) {
                *lock(&self.ready) = Some(Arc::new(Ready {
                    document: document.clone(),
                    fields,
                    shape: Shape::of_operation(&document, operation_name).map(Arc::new),
                }));
            }
        }
        Ok(document)
    }

    pub(super) async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let key = lock(&self.validation_key).take();
        let Some(key) = key else {
            return next.run(ctx).await;
        };
        if let Some(known) = self.limits.validated.0.get(&key) {
            return Ok(known.result);
        }
        let result = next.run(ctx).await?;
        let ready = lock(&self.ready).take();
        self.limits
            .validated
            .0
            .insert(key, Arc::new(Known { result, ready }));
        Ok(result)
    }

    pub(super) async fn execute(
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
        within_time(timeout, next.run(ctx, operation_name)).await
    }

    pub(super) async fn resolve(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBus;
    use crate::graphql::hooks::RequestHooks;
    use crate::graphql::schema::{Mutation, Query};
    use crate::graphql::subscription::Subscription;
    use crate::metrics::Metrics;
    use crate::policy::Policy;
    use crate::service::Services;
    use async_graphql::{Request, Schema};

    const BUDGET: Budget = Budget {
        max_fields: 100,
        max_tokens: 1000,
    };

    /// Services over an empty in-memory database: enough to validate.
    async fn services() -> Services {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        Services::new(
            db,
            Policy::load(None).await.unwrap(),
            Arc::new(Metrics::default()),
            EventBus::new(),
        )
    }

    #[tokio::test]
    async fn validation_is_remembered_by_text_operation_and_variables() {
        let services = services().await;
        let validated = Validated::default();
        let schema = Schema::build(
            Query::default(),
            Mutation::default(),
            Subscription::default(),
        )
        .limit_complexity(100)
        .extension(RequestHooks(Limits {
            max_aliases: 10,
            timeout: Duration::from_secs(10),
            introspection: true,
            budget: BUDGET,
            anonymous: BUDGET,
            validated: validated.clone(),
        }))
        .data(services)
        .finish();
        let run = |first: i64| {
            let schema = schema.clone();
            async move {
                let request = Request::new(
                    "query Mine($n: Int) { datasets(first: $n) { nodes { id title } } }",
                )
                .operation_name("Mine")
                .variables(Variables::from_json(serde_json::json!({ "n": first })));
                schema.execute(request).await
            }
        };
        let too_complex = |r: &Response| r.errors.iter().any(|e| e.message.contains("too complex"));

        // Validated once, then remembered (the field itself needs a caller).
        assert!(!too_complex(&run(5).await));
        assert_eq!(validated.len(), 1);
        assert!(!too_complex(&run(5).await));
        assert_eq!(validated.len(), 1);
        // The same text with other variables is validated on its own: its
        // complexity follows `first`.
        assert!(too_complex(&run(100).await));
        assert!(too_complex(&run(100).await));
        assert_eq!(validated.len(), 1);
        assert!(!too_complex(&run(6).await));
        assert_eq!(validated.len(), 2);

        // A document that fails validation is not remembered.
        for _ in 0..2 {
            let response = schema.execute("{ noSuchField }").await;
            assert!(response.errors[0].message.contains("noSuchField"));
        }
        assert_eq!(validated.len(), 2);
    }

    #[tokio::test]
    async fn only_queries_validated_before_and_within_the_caller_s_budget_are_ready() {
        let services = services().await;
        let limits = Limits {
            max_aliases: 10,
            timeout: Duration::from_secs(10),
            introspection: true,
            budget: BUDGET,
            // Four fields: fewer than the query below selects.
            anonymous: Budget {
                max_fields: 3,
                max_tokens: 1000,
            },
            validated: Validated::default(),
        };
        let schema = Schema::build(
            Query::default(),
            Mutation::default(),
            Subscription::default(),
        )
        .extension(RequestHooks(limits.clone()))
        .data(services)
        .finish();
        let user = || {
            Principal::User(crate::auth::Caller::role_unread(
                uuid::Uuid::nil(),
                "a@example.com".to_owned(),
            ))
        };
        let query = "query Mine { datasets { nodes { id title } } me { id } }";
        let mine = || Request::new(query).operation_name("Mine").data(user());

        assert!(limits.ready(&mine()).is_none(), "not validated yet");
        schema.execute(mine()).await;
        let ready = limits.ready(&mine()).expect("validated by the first run");
        // Repeated fields merged, the shape of the answer kept.
        assert!(ready.shape.is_some());
        // Another operation name, other variables, or no caller's budget.
        assert!(limits.ready(&Request::new(query).data(user())).is_none());
        assert!(limits
            .ready(&mine().variables(Variables::from_json(serde_json::json!({ "x": 1 }))))
            .is_none());
        assert!(limits
            .ready(&Request::new(query).operation_name("Mine"))
            .is_none());

        // A mutation is validated and remembered, but never ready.
        let create = "mutation { createFolder(input: {name: \"F\"}) { id } }";
        schema.execute(Request::new(create).data(user())).await;
        assert_eq!(limits.validated.len(), 2);
        assert!(limits.ready(&Request::new(create).data(user())).is_none());
    }

    #[test]
    fn validation_keys_hash_as_they_compare() {
        use std::collections::hash_map::DefaultHasher;
        let key = |variables: serde_json::Value| {
            ValidationKey::of("{ a }", None, &Variables::from_json(variables)).unwrap()
        };
        let hash = |key: &ValidationKey| {
            let mut hasher = DefaultHasher::new();
            key.hash(&mut hasher);
            hasher.finish()
        };
        let a = key(serde_json::json!({ "x": 1, "y": { "p": "a", "q": [true] } }));
        let b = key(serde_json::json!({ "y": { "q": [true], "p": "a" }, "x": 1 }));
        assert!(a == b);
        assert_eq!(hash(&a), hash(&b));
        assert!(a != key(serde_json::json!({ "x": 2, "y": { "p": "a", "q": [true] } })));
        // Too much variable data to keep.
        let big = "x".repeat(VALIDATED_MAX_VARIABLES + 1);
        assert!(ValidationKey::of(
            "{ a }",
            None,
            &Variables::from_json(serde_json::json!({ "v": big }))
        )
        .is_none());
    }
}
