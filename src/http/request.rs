//! From what a client sent to an `async_graphql::Request` ready to run: the
//! one decoding of GraphQL request parameters, and the one place that finds
//! which operation a document selects.
//!
//! Every transport carries the same four parameters (`query`,
//! `operationName`, `variables`, `extensions`) in its own envelope: a GET
//! query string, a POST JSON body (one object or a batch), the `operations`
//! field of a multipart upload, or the payload of a WebSocket `subscribe` /
//! `start`. They are type-checked here once, strictly (a `variables` that is
//! an array is refused, not ignored), because the graphql-http audit and the
//! graphql-ws client both expect a wrong shape to be refused. Only the words
//! of the refusal differ, so that each protocol's clients read their own
//! terms ([`Source`]).
//!
//! The document is parsed once, within the caller's budget, and handed to
//! the request, so the schema does not parse it again. What it selects
//! ([`Operation`]: type and name) is found here with the schema's own rules;
//! it decides whether GET may run it, whether a WebSocket operation counts as
//! a subscription, and the name metrics and the request log use.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{BatchRequest, ServerError, Variables};
use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::http::{header, HeaderMap, Uri};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::AppState;
use crate::graphql::document::Budget;

/// Where request parameters come from; it names them in refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A GET query string, a POST body or a multipart `operations` field.
    Http,
    /// The payload of a WebSocket `subscribe` / `start` message.
    WebSocket,
}

impl Source {
    /// A parameter of the wrong JSON type.
    fn wrong(self, name: &str, expected: &str, got: &Value) -> String {
        match self {
            Source::Http => format!("`{name}` must be {expected}, not {}", json_type(got)),
            Source::WebSocket => format!("the payload's '{name}' property must be {expected}"),
        }
    }

    fn no_query(self) -> String {
        match self {
            Source::Http => "the request has no `query` parameter".into(),
            Source::WebSocket => "the payload's 'query' property must be a string".into(),
        }
    }

    fn unreadable_extensions(self, error: serde_json::Error) -> String {
        match self {
            Source::Http => format!("`extensions` cannot be read: {error}"),
            Source::WebSocket => {
                format!("the payload's 'extensions' property cannot be read: {error}")
            }
        }
    }
}

/// Builds a GraphQL request from its parameters, checking their types.
pub fn graphql_request(
    params: &Map<String, Value>,
    source: Source,
) -> Result<async_graphql::Request, String> {
    // With automatic persisted queries (HTTP only) the text may be left out
    // (see apq.rs).
    let persisted = source == Source::Http
        && matches!(params.get("extensions"), Some(Value::Object(e)) if e.contains_key("persistedQuery"));
    let query = match params.get("query") {
        Some(Value::String(query)) => query.as_str(),
        None if persisted => "",
        None => return Err(source.no_query()),
        Some(other) => return Err(source.wrong("query", "a string", other)),
    };
    let mut request = async_graphql::Request::new(query);
    match params.get("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(other) => return Err(source.wrong("operationName", "a string or null", other)),
    }
    match params.get("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(Variables::from_json(variables.clone()))
        }
        Some(other) => return Err(source.wrong("variables", "an object or null", other)),
    }
    match params.get("extensions") {
        None | Some(Value::Null) => {}
        Some(extensions @ Value::Object(_)) => {
            request.extensions = serde_json::from_value(extensions.clone())
                .map_err(|e| source.unreadable_extensions(e))?
        }
        Some(other) => return Err(source.wrong("extensions", "an object or null", other)),
    }
    Ok(request)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The parameters of a GET request; `variables` and `extensions` are JSON.
pub fn get_params(uri: &Uri) -> Result<Map<String, Value>, String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| format!("the query string cannot be read: {e}"))?;
    let mut params = Map::new();
    for (key, value) in pairs {
        let value = match key.as_str() {
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|e| format!("`{key}` is not valid JSON: {e}"))?,
            // A form that leaves the operation name empty means none.
            "operationName" if value.is_empty() => Value::Null,
            _ => Value::String(value),
        };
        if params.insert(key.clone(), value).is_some() {
            return Err(format!("`{key}` is given more than once"));
        }
    }
    Ok(params)
}

/// The requests of a POST body (`what` names it in messages): one object,
/// or a batch of them.
pub fn post_requests(
    bytes: &[u8],
    max_batch_size: usize,
    what: &str,
) -> Result<BatchRequest, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("{what} is empty"));
    }
    let body: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{what} is not valid JSON: {e}"))?;
    match body {
        Value::Object(params) => Ok(BatchRequest::Single(graphql_request(
            &params,
            Source::Http,
        )?)),
        Value::Array(items) => {
            if items.is_empty() {
                return Err("a batch must hold at least one request".into());
            }
            if items.len() > max_batch_size {
                return Err(format!(
                    "a batch may hold at most {max_batch_size} requests, this one holds {}",
                    items.len()
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(params) => graphql_request(params, Source::Http)
                        .map_err(|e| format!("batch request {i}: {e}")),
                    other => Err(format!(
                        "batch request {i} must be an object, not {}",
                        json_type(other)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(BatchRequest::Batch)
        }
        other => Err(format!(
            "{what} must be an object or an array of objects, not {}",
            json_type(&other)
        )),
    }
}

/// The length the client declared, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Why a body could not be read.
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads the body, giving up as soon as it passes `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if buffer.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.into())
}

/// The operation a request runs, as the schema will select it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operation {
    /// Its type; `None` when the document selects no operation (the schema
    /// says why when it runs) or does not parse.
    pub ty: Option<OperationType>,
    /// The name metrics and the log use: `operationName`, else the name of
    /// the document's only operation; `None` when anonymous.
    pub name: Option<String>,
}

impl Operation {
    pub fn is(&self, ty: OperationType) -> bool {
        self.ty == Some(ty)
    }
}

/// Parses the request's document within `budget`, hands it to the request
/// and tells which operation it selects; the refusal when it does not parse
/// or costs too much.
pub fn parse(
    request: &mut async_graphql::Request,
    budget: Budget,
) -> Result<Operation, ServerError> {
    let document = crate::graphql::document::parse_within(&request.query, budget)?;
    let operation = select(&document, request.operation_name.as_deref());
    request.set_parsed_query(document);
    Ok(operation)
}

/// The operation `name` selects in `document`, chosen as the schema chooses
/// it: a name must be one of the document's named operations; without one,
/// the document must hold a single operation.
fn select(document: &ExecutableDocument, name: Option<&str>) -> Operation {
    let (ty, found) = match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => (Some(operation.node.ty), None),
        (DocumentOperations::Single(_), Some(_)) => (None, None),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            (operations.get(name).map(|op| op.node.ty), None)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .iter()
            .next()
            .map(|(name, op)| (Some(op.node.ty), Some(name.to_string())))
            .unwrap_or_default(),
        (DocumentOperations::Multiple(_), None) => (None, None),
    };
    Operation {
        ty,
        name: name.map(str::to_owned).or(found),
    }
}

/// An HTTP request resolved (persisted query), parsed and with its operation
/// found, or the error that answers it; the operation is known even then
/// (its name for the metrics).
pub struct Prepared {
    pub request: Result<async_graphql::Request, ServerError>,
    pub operation: Operation,
}

/// Resolves a persisted query, then parses within the signed-in caller's
/// budget (the schema checks the caller's own budget when it runs).
pub fn prepare(state: &AppState, mut request: async_graphql::Request) -> Prepared {
    let given = Operation {
        ty: None,
        name: request.operation_name.clone(),
    };
    let parsed = state
        .persisted
        .resolve(&mut request)
        .and_then(|()| parse(&mut request, state.limits.document));
    match parsed {
        Ok(operation) => Prepared {
            request: Ok(request),
            operation,
        },
        Err(error) => Prepared {
            request: Err(error),
            operation: given,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn checks_parameters_in_each_transport_s_words() {
        let refusal = |value: Value, source| graphql_request(&params(value), source).err();
        assert_eq!(
            refusal(json!({ "query": 1 }), Source::Http).as_deref(),
            Some("`query` must be a string, not a number")
        );
        assert_eq!(
            refusal(json!({ "query": 1 }), Source::WebSocket).as_deref(),
            Some("the payload's 'query' property must be a string")
        );
        assert_eq!(
            refusal(json!({}), Source::Http).as_deref(),
            Some("the request has no `query` parameter")
        );
        assert_eq!(
            refusal(
                json!({ "query": "{a}", "variables": [] }),
                Source::WebSocket
            )
            .as_deref(),
            Some("the payload's 'variables' property must be an object or null")
        );
        // Only HTTP resolves persisted queries, so only there may the text be left out.
        let persisted = json!({ "extensions": { "persistedQuery": { "version": 1 } } });
        assert!(refusal(persisted.clone(), Source::Http).is_none());
        assert!(refusal(persisted, Source::WebSocket).is_some());
    }

    #[test]
    fn finds_the_operation_as_the_schema_selects_it() {
        let budget = Budget {
            max_fields: 10,
            max_tokens: 100,
        };
        let found = |query: &str, name: Option<&str>| {
            let mut request = async_graphql::Request::new(query);
            if let Some(name) = name {
                request = request.operation_name(name);
            }
            parse(&mut request, budget).map(|op| (op.ty, op.name))
        };
        use OperationType::*;
        assert_eq!(
            found("subscription { a }", None),
            Ok((Some(Subscription), None))
        );
        assert_eq!(
            found("query A { a } subscription B { a }", Some("A")),
            Ok((Some(Query), Some("A".into())))
        );
        assert_eq!(
            found("mutation M { a }", None),
            Ok((Some(Mutation), Some("M".into())))
        );
        assert_eq!(found("query A { a } query B { a }", None), Ok((None, None)));
        // An anonymous operation has no name to select it by.
        assert_eq!(found("{ a }", Some("A")), Ok((None, Some("A".into()))));
        assert!(found("{", None).is_err());
        assert!(found("{ a a a a a a a a a a a }", None).is_err());
    }
}
