//! What `/graphql` answers, and in which status: GraphQL response bodies in
//! the negotiated media type, and the transport's own refusals.
//!
//! The status rules are the GraphQL-over-HTTP specification's: under
//! `application/graphql-response+json` a request error (nothing executed:
//! the document does not parse or validate, variables do not coerce) is a
//! 400 without `data`; under `application/json` it is a 200; once execution
//! has started the answer is a 200 with `data`, field errors or not. Every
//! error carries `extensions.code`, and every response notes what it
//! answered for the metrics and the log ([`super::observability`]).
//!
//! The bodies are serialized here rather than by `async_graphql::Response`'s
//! `Serialize`, which always writes `data` (as `null` for a request error)
//! where the specification wants it left out.

use std::collections::BTreeMap;

use async_graphql::{BatchResponse, ServerError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::media::MediaType;
use super::observability::{error_codes, note_errors};
use super::rate_limit::{Limited, RATE_LIMITED};
use crate::error::AppError;

/// The GraphQL error body for a request refused before execution (JSON).
pub fn error_response(err: AppError) -> Response {
    let status = match err {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let gql: async_graphql::Error = err.clone().into();
    let body =
        json!({ "errors": [{ "message": gql.message, "extensions": { "code": err.code() } }] });
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    response
}

/// Errors raised by the GraphQL engine itself (syntax, validation, variable
/// coercion, limits) carry no code; they are all the client's input.
pub fn with_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
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
pub fn respond(media: MediaType, status: StatusCode, body: &impl Serialize) -> Response {
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
pub fn refuse(media: MediaType, status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = async_graphql::Response::from_errors(vec![ServerError::new(message, None)]);
    with_codes(&mut response);
    let codes: Vec<String> = error_codes(&response).collect();
    let mut http = respond(media, status, &ResponseBody::new(&response, true));
    note_errors(&mut http, codes);
    http
}

pub fn not_acceptable() -> Response {
    refuse(
        MediaType::Json,
        StatusCode::NOT_ACCEPTABLE,
        "none of the media types in Accept can be produced; \
         accept application/graphql-response+json or application/json",
    )
}

pub fn too_large(media: MediaType, message: impl Into<String>) -> Response {
    refuse(media, StatusCode::PAYLOAD_TOO_LARGE, message)
}

pub fn body_too_large(media: MediaType, limit: usize) -> Response {
    too_large(
        media,
        format!("the request body is larger than {limit} bytes"),
    )
}

/// An error of ours or a bad token, before anything executed.
pub fn app_error(media: MediaType, error: AppError) -> Response {
    let code = error.code();
    let mut response = error_response(error);
    note_errors(&mut response, [code]);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// A 429: a GraphQL error coded `RATE_LIMITED`, and `Retry-After`.
pub fn rate_limited(media: MediaType, limited: Limited) -> Response {
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

/// A response, and whether it answers a request error (nothing executed).
pub struct Outcome {
    pub response: async_graphql::Response,
    pub request_error: bool,
}

/// Errors raised before execution carry no path and leave no data; an
/// execution error that nulls the whole result always names its field.
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    !super::apq::is_not_found(response)
        && response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// The HTTP response for executed requests.
pub fn graphql_response(media: MediaType, outcomes: Vec<Outcome>, batch: bool) -> Response {
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

/// A GET refused because what it asks needs POST: 405, `Allow: POST`.
pub fn post_only(media: MediaType, message: &str) -> Response {
    let mut response = refuse(media, StatusCode::METHOD_NOT_ALLOWED, message);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}
