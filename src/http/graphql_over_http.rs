//! `/graphql` after the GraphQL-over-HTTP specification
//! (<https://graphql.github.io/graphql-over-http/draft/>).
//!
//! - **Media types.** The response is `application/graphql-response+json` or
//!   `application/json`, negotiated from `Accept` (q-values, `application/*`
//!   and `*/*` understood; wildcards and a missing `Accept` mean
//!   `application/json`). Nothing acceptable: 406.
//! - **POST** needs `Content-Type: application/json` (a charset, if given,
//!   must be utf-8) or `multipart/form-data`; 415 otherwise. A JSON body is
//!   one request object or a non-empty array of them (a batch, at most
//!   `max_batch_size`, 400 beyond); bodies over `max_body_bytes` get a 413.
//! - **File uploads** come as a GraphQL multipart request: `operations` (what
//!   a JSON body would hold, checked the same way), `map`, then at most
//!   `multipart::MAX_FILES` files of up to `max_upload_bytes` each, spooled
//!   to temporary files; see `multipart.rs`, also for why no CSRF header is
//!   required.
//! - **GET** takes `query`, `operationName`, `variables` and `extensions`
//!   from the query string (the last two JSON-encoded) and runs queries only:
//!   a mutation, or a multipart body, gets 405 with `Allow: POST`. Without a
//!   query string, or for a browser, it serves the playground.
//! - **Parameters** are type-checked: `query` a string; `operationName` a
//!   string or null; `variables` and `extensions` objects or null. A body
//!   that is not JSON or not of that shape gets a 400.
//! - **Request errors** (the document does not parse or validate, variables
//!   do not coerce, the operation cannot be selected, a subscription) answer
//!   without a `data` entry: with status 400 under
//!   `application/graphql-response+json`, with 200 under `application/json`.
//!   Once execution has started the answer is 200 with `data`, field errors
//!   or not.
//!
//! The caller is authenticated (a bad token is a 401) after the request has
//! been checked and before anything executes. Every error carries
//! `extensions.code`; the transport's own refusals (413s included) use
//! `BAD_USER_INPUT`.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{BatchRequest, BatchResponse, ServerError, Variables};
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};

use super::multipart::{self, MultipartError, UploadLimits, MAX_FILES};
use super::operations::{self, error_codes, note_errors, note_operation};
use super::rate_limit::{ClientAddr, Limited, RateKey, RATE_LIMITED};
use super::{authenticate, error_response, playground_page, with_codes, AppState};
use crate::auth::Principal;
use crate::error::AppError;
use crate::metrics::BATCH;

/// A media type `/graphql` can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphQLResponseJson,
    /// `application/json`: the legacy format, 200 for every GraphQL response
    /// (request errors included).
    Json,
}

impl MediaType {
    /// The subtype under `application/`.
    fn subtype(self) -> &'static str {
        match self {
            MediaType::GraphQLResponseJson => "graphql-response+json",
            MediaType::Json => "json",
        }
    }

    /// The `Content-Type` of a response in this media type.
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphQLResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// Picks the response media type for an `Accept` header value (all `Accept`
/// headers joined with commas). `None` means nothing acceptable (406).
///
/// Each media type takes the quality of the most specific range that matches
/// it; the higher quality wins, then the more specific match, then the range
/// listed first; a tie on the same wildcard goes to `application/json`.
pub fn negotiate(accept: Option<&str>) -> Option<MediaType> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Some(MediaType::Json);
    };
    let ranges: Vec<MediaRange> = accept.split(',').filter_map(MediaRange::parse).collect();
    // (quality, specificity, earliest range, application/json on a tie)
    type Rank = (u16, u8, Reverse<usize>, bool);
    let mut best: Option<(Rank, MediaType)> = None;
    for media in [MediaType::GraphQLResponseJson, MediaType::Json] {
        let Some((specificity, Reverse(index), q)) = ranges
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.specificity(media).map(|s| (s, Reverse(i), r.q)))
            .max_by_key(|(s, i, _)| (*s, *i))
        else {
            continue;
        };
        if q == 0 {
            continue;
        }
        let key = (q, specificity, Reverse(index), media == MediaType::Json);
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, media));
        }
    }
    best.map(|(_, media)| media)
}

/// One range of an `Accept` header.
struct MediaRange {
    ty: String,
    subtype: String,
    /// Quality in thousandths.
    q: u16,
    /// False when the range asks for a charset other than utf-8.
    utf8: bool,
}

impl MediaRange {
    /// A range, or `None` for one that cannot be read (it is ignored).
    fn parse(raw: &str) -> Option<MediaRange> {
        let mut parts = raw.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let (ty, subtype) = essence.split_once('/')?;
        let (ty, subtype) = (ty.trim(), subtype.trim());
        if ty.is_empty() || subtype.is_empty() || (ty == "*" && subtype != "*") {
            return None;
        }
        let mut range = MediaRange {
            ty: ty.to_owned(),
            subtype: subtype.to_owned(),
            q: 1000,
            utf8: true,
        };
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => range.q = parse_quality(value)?,
                "charset" => range.utf8 = is_utf8(value),
                _ => {}
            }
        }
        Some(range)
    }

    /// How specifically this range names `media` (2 exactly, 1 `application/*`,
    /// 0 `*/*`), or `None` when it does not match.
    fn specificity(&self, media: MediaType) -> Option<u8> {
        if !self.utf8 {
            return None;
        }
        match (self.ty.as_str(), self.subtype.as_str()) {
            ("*", "*") => Some(0),
            ("application", "*") => Some(1),
            ("application", subtype) if subtype == media.subtype() => Some(2),
            _ => None,
        }
    }
}

/// `q` in thousandths: `0` to `1` with at most three decimals.
fn parse_quality(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = match int {
        "0" => format!("{frac:0<3}").parse::<u16>().ok()?,
        "1" if frac.bytes().all(|b| b == b'0') => 1000,
        _ => return None,
    };
    Some(thousandths)
}

fn is_utf8(charset: &str) -> bool {
    charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
}

/// The negotiated media type of a request; `None` means 406.
fn response_media_type(headers: &HeaderMap) -> Option<MediaType> {
    let mut values = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        values.push(value.to_str().ok()?);
    }
    if values.is_empty() {
        return negotiate(None);
    }
    negotiate(Some(&values.join(",")))
}

/// `application/json`, with no charset or utf-8.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|param| match param.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                is_utf8(value.trim().trim_matches('"'))
            }
            _ => true,
        })
}

/// A GraphQL response body; `data` is left out for a request error.
#[derive(Serialize)]
struct ResponseBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

impl<'a> ResponseBody<'a> {
    fn new(response: &'a async_graphql::Response, request_error: bool) -> Self {
        ResponseBody {
            data: (!request_error).then_some(&response.data),
            errors: &response.errors,
            extensions: &response.extensions,
        }
    }
}

/// A JSON body in the given media type.
fn respond(media: MediaType, status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialize a GraphQL response");
        br#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL"}}]}"#
            .to_vec()
    });
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.content_type());
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// A request refused by the transport: a GraphQL error body, no `data`.
fn refuse(media: MediaType, status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = async_graphql::Response::from_errors(vec![ServerError::new(message, None)]);
    with_codes(&mut response);
    let codes: Vec<String> = error_codes(&response).collect();
    let mut http = respond(media, status, &ResponseBody::new(&response, true));
    note_errors(&mut http, codes);
    http
}

fn not_acceptable() -> Response {
    refuse(
        MediaType::Json,
        StatusCode::NOT_ACCEPTABLE,
        "none of the media types in Accept can be produced; \
         accept application/graphql-response+json or application/json",
    )
}

fn too_large(media: MediaType, message: impl Into<String>) -> Response {
    refuse(media, StatusCode::PAYLOAD_TOO_LARGE, message)
}

fn body_too_large(media: MediaType, limit: usize) -> Response {
    too_large(
        media,
        format!("the request body is larger than {limit} bytes"),
    )
}

/// An error of ours or a bad token, before anything executed.
fn app_error(media: MediaType, error: AppError) -> Response {
    let code = error.code();
    let mut response = error_response(error);
    note_errors(&mut response, [code]);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// A 429: a GraphQL error coded `RATE_LIMITED`, and `Retry-After`.
fn rate_limited(media: MediaType, limited: Limited) -> Response {
    let response = async_graphql::Response::from_errors(vec![limited.into()]);
    let mut http = respond(
        media,
        StatusCode::TOO_MANY_REQUESTS,
        &ResponseBody::new(&response, true),
    );
    note_errors(&mut http, [RATE_LIMITED]);
    http.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(limited.retry_after_secs()),
    );
    http
}

/// The length the client declared, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads the body, giving up as soon as it passes `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
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

/// Builds a GraphQL request from its parameters, checking their types.
fn graphql_request(params: &Map<String, Value>) -> Result<async_graphql::Request, String> {
    // With automatic persisted queries the text may be left out (see apq.rs).
    let persisted = matches!(params.get("extensions"), Some(Value::Object(e)) if e.contains_key("persistedQuery"));
    let query = match params.get("query") {
        Some(Value::String(query)) => query.as_str(),
        None if persisted => "",
        None => return Err("the request has no `query` parameter".into()),
        Some(other) => {
            return Err(format!(
                "`query` must be a string, not {}",
                json_type(other)
            ))
        }
    };
    let mut request = async_graphql::Request::new(query);
    match params.get("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(other) => {
            return Err(format!(
                "`operationName` must be a string or null, not {}",
                json_type(other)
            ))
        }
    }
    match params.get("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(Variables::from_json(variables.clone()))
        }
        Some(other) => {
            return Err(format!(
                "`variables` must be an object or null, not {}",
                json_type(other)
            ))
        }
    }
    match params.get("extensions") {
        None | Some(Value::Null) => {}
        Some(extensions @ Value::Object(_)) => {
            request.extensions = serde_json::from_value(extensions.clone())
                .map_err(|e| format!("`extensions` cannot be read: {e}"))?
        }
        Some(other) => {
            return Err(format!(
                "`extensions` must be an object or null, not {}",
                json_type(other)
            ))
        }
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
fn get_params(uri: &Uri) -> Result<Map<String, Value>, String> {
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
fn post_requests(bytes: &[u8], max_batch_size: usize, what: &str) -> Result<BatchRequest, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("{what} is empty"));
    }
    let body: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{what} is not valid JSON: {e}"))?;
    match body {
        Value::Object(params) => Ok(BatchRequest::Single(graphql_request(&params)?)),
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
                    Value::Object(params) => {
                        graphql_request(params).map_err(|e| format!("batch request {i}: {e}"))
                    }
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

/// A request whose document parsed, with the type of the operation it
/// selects (`None` when it selects none: the schema reports why); or the
/// error of a document that does not parse.
type Prepared = Result<(async_graphql::Request, Option<OperationType>), ServerError>;

fn prepare(state: &AppState, mut request: async_graphql::Request) -> Prepared {
    state.persisted.resolve(&mut request)?;
    let document = crate::graphql::document::parse_within(&request.query, state.limits.document)?;
    let operation = selected_operation(&document, request.operation_name.as_deref());
    request.set_parsed_query(document);
    Ok((request, operation))
}

/// The type of the operation a request runs, chosen as the schema chooses it.
fn selected_operation(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => Some(operation.node.ty),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A response, and whether it answers a request error (nothing executed).
struct Outcome {
    response: async_graphql::Response,
    request_error: bool,
}

/// Errors raised before execution carry no path and leave no data; an
/// execution error that nulls the whole result always names its field.
fn is_request_error(response: &async_graphql::Response) -> bool {
    !super::apq::is_not_found(response)
        && response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

async fn execute(state: &AppState, principal: Principal, prepared: Vec<Prepared>) -> Vec<Outcome> {
    let runs = prepared.into_iter().map(|prepared| {
        let principal = principal.clone();
        async move {
            let response = match prepared {
                Err(error) => async_graphql::Response::from_errors(vec![error]),
                Ok((_, Some(OperationType::Subscription))) => {
                    async_graphql::Response::from_errors(vec![ServerError::new(
                        "subscriptions are not supported over HTTP",
                        None,
                    )])
                }
                Ok((request, _)) => state.schema.execute(request.data(principal)).await,
            };
            Outcome {
                request_error: is_request_error(&response),
                response,
            }
        }
    });
    futures_util::future::join_all(runs).await
}

/// The HTTP response for executed requests.
fn graphql_response(media: MediaType, outcomes: Vec<Outcome>, batch: bool) -> Response {
    let status = match outcomes.as_slice() {
        [single] if !batch && single.request_error && media == MediaType::GraphQLResponseJson => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    let mut flags = Vec::with_capacity(outcomes.len());
    let mut responses = Vec::with_capacity(outcomes.len());
    for mut outcome in outcomes {
        with_codes(&mut outcome.response);
        flags.push(outcome.request_error);
        responses.push(outcome.response);
    }
    let codes: Vec<String> = responses.iter().flat_map(error_codes).collect();
    let mut response = if batch {
        let bodies: Vec<ResponseBody> = responses
            .iter()
            .zip(&flags)
            .map(|(response, request_error)| ResponseBody::new(response, *request_error))
            .collect();
        respond(media, status, &bodies)
    } else {
        respond(media, status, &ResponseBody::new(&responses[0], flags[0]))
    };
    let responses = if batch {
        BatchResponse::Batch(responses)
    } else {
        BatchResponse::Single(responses.swap_remove(0))
    };
    if responses.is_ok() {
        if let Some(value) = responses
            .cache_control()
            .value()
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            response.headers_mut().insert(header::CACHE_CONTROL, value);
        }
    }
    response.headers_mut().extend(responses.http_headers());
    note_errors(&mut response, codes);
    response
}

/// Authenticates, takes the caller's turn in the rate limits, runs the
/// requests and answers.
async fn run(
    state: &AppState,
    parts: &Parts,
    media: MediaType,
    prepared: Vec<Prepared>,
    batch: bool,
) -> Response {
    let addr = parts.extensions.get::<ClientAddr>().copied();
    let principal = match authenticate(state, &parts.headers).await {
        Ok(principal) => principal,
        Err(e) => {
            // A bad token counts against the address it came from.
            if let Err(limited) = state
                .rate
                .check(RateKey::of(&Principal::Anonymous, addr), addr)
            {
                return rate_limited(media, limited);
            }
            return app_error(media, e);
        }
    };
    if let Err(limited) = state.rate.check(RateKey::of(&principal, addr), addr) {
        return rate_limited(media, limited);
    }
    let outcomes = execute(state, principal, prepared).await;
    graphql_response(media, outcomes, batch)
}

/// The name of the operation a request runs, for the metrics and the log:
/// `operationName`, else the name of the document's only operation.
fn operation_name(given: Option<String>, prepared: &mut Prepared) -> Option<String> {
    given.or_else(|| {
        let (request, _) = prepared.as_mut().ok()?;
        match &request.parsed_query().ok()?.operations {
            DocumentOperations::Multiple(operations) if operations.len() == 1 => {
                operations.keys().next().map(ToString::to_string)
            }
            _ => None,
        }
    })
}

/// `POST /graphql`, counted in the metrics.
pub async fn graphql_post(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let metrics = state.services.metrics.clone();
    let response = handle_post(State(state), request).await;
    operations::record(&metrics, started, &response);
    response
}

/// `GET /graphql`, counted in the metrics (the playground page is not).
pub async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let metrics = state.services.metrics.clone();
    let response = handle_get(State(state), request).await;
    operations::record(&metrics, started, &response);
    response
}

/// `POST /graphql`.
async fn handle_post(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(media) = response_media_type(&parts.headers) else {
        return not_acceptable();
    };
    let requests = if is_json_content_type(&parts.headers) {
        json_requests(&state, &parts.headers, body, media).await
    } else if let Some(boundary) = multipart::form_data_boundary(&parts.headers) {
        // Files are spooled to disk: only for a caller with a valid token,
        // checked before a byte of the body is read (a bad one is a 401 at
        // once; without one, the request may carry no file).
        let signed_in = match upload_allowed(&state, &parts.headers).await {
            Ok(signed_in) => signed_in,
            Err(e) => return app_error(media, e),
        };
        multipart_requests(&state, &parts.headers, body, boundary, media, signed_in).await
    } else {
        let mut response = refuse(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a POST request must have Content-Type: application/json, \
             or multipart/form-data to upload files",
        );
        response.headers_mut().insert(
            "accept-post",
            HeaderValue::from_static("application/json, multipart/form-data"),
        );
        return response;
    };
    let requests = match requests {
        Ok(requests) => requests,
        Err(refusal) => return refusal,
    };
    let (mut prepared, batch, given) = match requests {
        BatchRequest::Single(request) => {
            let given = request.operation_name.clone();
            (vec![prepare(&state, request)], false, given)
        }
        BatchRequest::Batch(requests) => (
            requests.into_iter().map(|r| prepare(&state, r)).collect(),
            true,
            None,
        ),
    };
    let operation = if batch {
        Some(BATCH.to_owned())
    } else {
        operation_name(given, &mut prepared[0])
    };
    let mut response = run(&state, &parts, media, prepared, batch).await;
    note_operation(&mut response, operation);
    response
}

/// Whether a multipart request comes with a token, which must verify (the
/// caller is provisioned later, as for any request).
async fn upload_allowed(state: &AppState, headers: &HeaderMap) -> Result<bool, AppError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(false);
    };
    let value = value.to_str().map_err(|_| {
        AppError::Unauthenticated("the Authorization header is not valid text".into())
    })?;
    state.auth.verify_header(value).await?;
    Ok(true)
}

/// The requests of an `application/json` body, or the refusal.
async fn json_requests(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    media: MediaType,
) -> Result<BatchRequest, Response> {
    let limit = state.limits.max_body_bytes;
    if declared_length(headers).is_some_and(|length| length > limit as u64) {
        return Err(body_too_large(media, limit));
    }
    let bytes = match read_body(body, limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => return Err(body_too_large(media, limit)),
        Err(BodyError::Unreadable) => {
            return Err(refuse(
                media,
                StatusCode::BAD_REQUEST,
                "the request body cannot be read",
            ))
        }
    };
    post_requests(&bytes, state.limits.max_batch_size, "the request body")
        .map_err(|message| refuse(media, StatusCode::BAD_REQUEST, message))
}

/// The requests of a GraphQL multipart request (file uploads), or the
/// refusal.
async fn multipart_requests(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    boundary: Result<String, String>,
    media: MediaType,
    signed_in: bool,
) -> Result<BatchRequest, Response> {
    let boundary = boundary.map_err(|message| refuse(media, StatusCode::BAD_REQUEST, message))?;
    let limits = UploadLimits {
        fields_bytes: state.limits.max_body_bytes,
        file_bytes: if signed_in {
            state.limits.max_upload_bytes
        } else {
            0
        },
    };
    if declared_length(headers).is_some_and(|length| length > limits.body_bytes()) {
        return Err(too_large(
            media,
            format!(
                "a multipart request may carry at most {MAX_FILES} files of {} bytes \
                 and {} bytes besides",
                limits.file_bytes, limits.fields_bytes
            ),
        ));
    }
    let max_batch_size = state.limits.max_batch_size;
    let operations = |bytes: &[u8]| post_requests(bytes, max_batch_size, "the `operations` field");
    multipart::read_request(body, &boundary, limits, operations)
        .await
        .map_err(|error| match error {
            MultipartError::Malformed(message) => refuse(media, StatusCode::BAD_REQUEST, message),
            MultipartError::TooLarge(message) => too_large(media, message),
            MultipartError::NoUploads => app_error(
                media,
                AppError::Unauthenticated("sign in to upload files".into()),
            ),
            MultipartError::Spool(e) => app_error(
                media,
                AppError::internal(format!("spooling an upload: {e}")),
            ),
        })
}

/// A GET refused because what it asks needs POST: 405, `Allow: POST`.
fn post_only(media: MediaType, message: &str) -> Response {
    let mut response = refuse(media, StatusCode::METHOD_NOT_ALLOWED, message);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// `GET /graphql`: the playground for a browser, queries for everyone else.
async fn handle_get(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if multipart::form_data_boundary(&parts.headers).is_some() {
        let Some(media) = response_media_type(&parts.headers) else {
            return not_acceptable();
        };
        return post_only(
            media,
            "file uploads (multipart/form-data) must be sent with POST",
        );
    }
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html || parts.uri.query().is_none() {
        return playground_page(&parts.extensions);
    }
    let Some(media) = response_media_type(&parts.headers) else {
        return not_acceptable();
    };
    let request = match get_params(&parts.uri).and_then(|params| graphql_request(&params)) {
        Ok(request) => request,
        Err(message) => return refuse(media, StatusCode::BAD_REQUEST, message),
    };
    let given = request.operation_name.clone();
    let mut prepared = prepare(&state, request);
    let operation = operation_name(given, &mut prepared);
    if let Ok((_, Some(OperationType::Mutation))) = &prepared {
        let mut response = post_only(media, "mutations cannot run over GET; send them with POST");
        note_operation(&mut response, operation);
        return response;
    }
    let mut response = run(&state, &parts, media, vec![prepared], false).await;
    note_operation(&mut response, operation);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_media_types() {
        use MediaType::*;
        let cases: &[(Option<&str>, Option<MediaType>)] = &[
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/*"), Some(Json)),
            (Some("application/json"), Some(Json)),
            (
                Some("application/graphql-response+json"),
                Some(GraphQLResponseJson),
            ),
            (
                Some("application/graphql-response+json, application/json;q=0.9"),
                Some(GraphQLResponseJson),
            ),
            (
                Some("application/json, application/graphql-response+json;q=0.9"),
                Some(Json),
            ),
            (
                Some("application/graphql-response+json;q=0.5, */*;q=0.8"),
                Some(Json),
            ),
            (
                Some("application/graphql-response+json, */*"),
                Some(GraphQLResponseJson),
            ),
            (Some("application/json;q=0, */*"), Some(GraphQLResponseJson)),
            (Some("text/html"), None),
            (Some("application/xml, text/plain;q=0.5"), None),
            (Some("application/json;q=0"), None),
            (Some("application/json; charset=latin1"), None),
            (Some("application/json; charset=UTF-8"), Some(Json)),
            (Some("application/json;q=2"), None),
            (Some("text/html, application/json;q=0.9"), Some(Json)),
        ];
        for (accept, expected) in cases {
            assert_eq!(negotiate(*accept), *expected, "Accept: {accept:?}");
        }
    }

    #[test]
    fn reads_qualities() {
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("0.125"), Some(125));
        assert_eq!(parse_quality("0"), Some(0));
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("0.1234"), None);
        assert_eq!(parse_quality("x"), None);
    }

    #[test]
    fn checks_content_types() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json_content_type(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=UTF-8"));
        assert!(with("application/json;charset=\"utf-8\""));
        assert!(!with("application/json; charset=iso-8859-1"));
        assert!(!with("text/plain;charset=UTF-8"));
        assert!(!with("application/graphql"));
        assert!(!is_json_content_type(&HeaderMap::new()));
    }
}
