//! The `/graphql` handlers: GraphQL over HTTP after the specification
//! (<https://graphql.github.io/graphql-over-http/draft/>), whose rules the
//! README lists.
//!
//! **Why hand-written.** The stock integration (`async-graphql-axum`'s
//! `GraphQLRequest` / `GraphQLResponse`) fails the graphql-http audit: it
//! always answers `application/graphql-response+json` with status 200 (no
//! `Accept` negotiation, no 406, no 400 for a request error), reads any
//! `Content-Type` that is not multipart as JSON (no 415), writes `data: null`
//! for a request error, runs mutations over GET, and refuses a bad body in
//! plain text without `extensions.code`. Each of those is a rule here.
//!
//! **Shape.** A request goes through the checks in the order the
//! specification ranks their answers, each answered as soon as it fails:
//! the response media type ([`super::media`], 406), the content type (415),
//! the body and its parameters ([`super::request`], 413 / 400), the
//! document (parsed once within the budget, its operation found: a mutation
//! over GET is a 405), the caller ([`super::caller`], 401), the rate limits
//! (429), then execution, every request of a batch at once. The caller comes
//! late so that a malformed request costs no token check and no database
//! work; a multipart upload is the exception: its token is checked before
//! a byte of the body is read, since only a signed-in caller may spool files
//! to disk. What each response answered is noted for the metrics and the
//! request log ([`super::observability`]), which the layer around the router
//! records.

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, ServerError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::caller::{Credentials, Verified};
use super::media::{is_json_content_type, response_media_type, MediaType};
use super::multipart::{self, MultipartError, UploadLimits, MAX_FILES};
use super::observability::note_operation;
use super::rate_limit::{ClientAddr, RateKey};
use super::request::{
    declared_length, get_params, graphql_request, post_requests, prepare, read_body, BodyError,
    Prepared, Source,
};
use super::response::{
    app_error, body_too_large, graphql_response, is_request_error, not_acceptable, post_only,
    rate_limited, refuse, too_large, Outcome,
};
use super::{playground_page, AppState};
use crate::auth::Principal;
use crate::error::AppError;
use crate::metrics::BATCH;

/// Runs every request of a batch at once.
async fn execute(state: &AppState, principal: Principal, prepared: Vec<Prepared>) -> Vec<Outcome> {
    let runs = prepared.into_iter().map(|prepared| {
        let principal = principal.clone();
        async move {
            let response = match prepared.request {
                Err(error) => async_graphql::Response::from_errors(vec![error]),
                Ok(_) if prepared.operation.is(OperationType::Subscription) => {
                    async_graphql::Response::from_errors(vec![ServerError::new(
                        "subscriptions are not supported over HTTP",
                        None,
                    )])
                }
                Ok(request) => state.schema.execute(request.data(principal)).await,
            };
            Outcome {
                request_error: is_request_error(&response),
                response,
            }
        }
    });
    futures_util::future::join_all(runs).await
}

/// Signs the caller in, takes their turn in the rate limits, runs the
/// requests and answers.
async fn run(
    state: &AppState,
    parts: &Parts,
    media: MediaType,
    prepared: Vec<Prepared>,
    batch: bool,
    token: Result<Verified, AppError>,
) -> Response {
    let addr = parts.extensions.get::<ClientAddr>().copied();
    let signed_in = match token {
        Ok(token) => token.sign_in(&state.services).await,
        Err(e) => Err(e),
    };
    let principal = match signed_in {
        Ok(session) => session.principal,
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

/// `POST /graphql`.
pub async fn graphql_post(
    State(state): State<AppState>,
    credentials: Credentials,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Some(media) = response_media_type(&parts.headers) else {
        return not_acceptable();
    };
    // A token already checked (uploads), else checked just before running.
    let mut checked = None;
    let requests = if is_json_content_type(&parts.headers) {
        json_requests(&state, &parts.headers, body, media).await
    } else if let Some(boundary) = multipart::form_data_boundary(&parts.headers) {
        // Files are spooled to disk: only for a caller with a valid token,
        // checked before a byte of the body is read (a bad one is a 401 at
        // once; without one, the request may carry no file).
        let token = match credentials.verify(&state.auth).await {
            Ok(token) => token,
            Err(e) => return app_error(media, e),
        };
        let signed_in = token.is_signed_in();
        checked = Some(token);
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
    let (prepared, batch) = match requests {
        BatchRequest::Single(request) => (vec![prepare(&state, request)], false),
        BatchRequest::Batch(requests) => (
            requests.into_iter().map(|r| prepare(&state, r)).collect(),
            true,
        ),
    };
    let operation = match batch {
        true => Some(BATCH.to_owned()),
        false => prepared[0].operation.name.clone(),
    };
    let token = match checked {
        Some(token) => Ok(token),
        None => credentials.verify(&state.auth).await,
    };
    let mut response = run(&state, &parts, media, prepared, batch, token).await;
    note_operation(&mut response, operation);
    response
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
/// refusal. The parts are `multipart.rs`'s; its `operations` field is
/// decoded as a JSON body is.
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

/// `GET /graphql`: the playground for a browser, queries for everyone else.
pub async fn graphql_get(
    State(state): State<AppState>,
    credentials: Credentials,
    request: Request,
) -> Response {
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
    let request = match get_params(&parts.uri).and_then(|p| graphql_request(&p, Source::Http)) {
        Ok(request) => request,
        Err(message) => return refuse(media, StatusCode::BAD_REQUEST, message),
    };
    let prepared = prepare(&state, request);
    let operation = prepared.operation.name.clone();
    if prepared.request.is_ok() && prepared.operation.is(OperationType::Mutation) {
        let mut response = post_only(media, "mutations cannot run over GET; send them with POST");
        note_operation(&mut response, operation);
        return response;
    }
    let token = credentials.verify(&state.auth).await;
    let mut response = run(&state, &parts, media, vec![prepared], false, token).await;
    note_operation(&mut response, operation);
    response
}
