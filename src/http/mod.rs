//! HTTP transport: `POST/GET /graphql`, the playground, health endpoints.
//! Authentication happens here, before the schema runs: a missing token is
//! anonymous (introspection only); a bad one is a 401, never a downgrade.
//!
//! `/graphql` follows the GraphQL-over-HTTP specification; see
//! [`graphql_over_http`] for media types, status codes and limits.

pub mod apq;
pub mod connections;
pub mod graphql_over_http;
mod multipart;
pub mod operations;
pub mod rate_limit;
pub mod ws;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::auth::{Authenticator, Caller, Principal};
use crate::config::Config;
use crate::error::AppError;
use crate::graphql::AppSchema;
use crate::service::{users, Services};

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    pub auth: Arc<Authenticator>,
    pub limits: HttpLimits,
    /// Automatic persisted queries known to this instance.
    pub persisted: Arc<apq::PersistedQueries>,
    /// Requests per user and per client address.
    pub rate: Arc<rate_limit::RateLimiter>,
    /// Begun when the server stops: WebSockets close.
    pub shutdown: connections::Shutdown,
}

/// Transport limits of `/graphql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most operations in one batched request (400 beyond).
    pub max_batch_size: usize,
    /// Largest file of a multipart request in bytes (413 beyond).
    pub max_upload_bytes: usize,
    /// Time a `/graphql/ws` client has to send `connection_init`.
    pub ws_init_timeout: std::time::Duration,
    /// A `/graphql/ws` connection with no operation running this long is closed.
    pub ws_idle_timeout: std::time::Duration,
    /// What a document may cost at most (a signed-in caller's budget): the
    /// transports parse within it.
    pub document: crate::graphql::document::Budget,
}

impl From<&Config> for HttpLimits {
    fn from(config: &Config) -> Self {
        HttpLimits {
            max_body_bytes: config.max_body_bytes,
            max_batch_size: config.max_batch_size,
            max_upload_bytes: config.max_upload_bytes,
            ws_init_timeout: config.ws_init_timeout,
            ws_idle_timeout: config.connections.ws_idle_timeout,
            document: config.query.budget(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql_over_http::graphql_get).post(graphql_over_http::graphql_post),
        )
        .route("/graphql/ws", axum::routing::any(ws::graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(operations::metrics))
        .merge(crate::playground::routes())
        .with_state(state)
}

/// Resolves the caller from the `Authorization` header.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Principal::Anonymous);
    };
    let value = value.to_str().map_err(|_| {
        AppError::Unauthenticated("the Authorization header is not valid text".into())
    })?;
    let claims = state.auth.verify_header(value).await?;
    let user = users::provision(&state.services.db, &claims).await?;
    Ok(Principal::User(Caller::from(&user)))
}

/// The GraphQL error body for a request refused before execution.
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
pub(crate) fn with_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
}

/// The page a browser gets from `GET /graphql`: the embedded playground,
/// with the demo's Authorization header pre-filled when `serve --demo` set one.
pub fn playground_page(extensions: &axum::http::Extensions) -> Response {
    let headers = extensions.get::<crate::playground::DefaultHeaders>();
    crate::playground::page(headers.map(|h| &*h.0)).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.services.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}
