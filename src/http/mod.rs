//! The HTTP front door: the router, and what every transport shares.
//!
//! Two transports serve the one schema: `/graphql` ([`graphql_over_http`])
//! and `/graphql/ws` ([`ws`]). What they have in common lives in one place
//! each, so that the two cannot drift apart: who the caller is
//! ([`caller`]), how request parameters are decoded and which operation a
//! document selects ([`request`]), the rate limits ([`rate_limit`]), the
//! accept loop and its timeouts ([`connections`]), and the limits below.
//! What is HTTP-only sits beside them: content negotiation ([`media`]),
//! response bodies and status codes ([`response`]), uploads ([`multipart`]),
//! persisted queries ([`apq`]), and the layer of metrics, CORS and request
//! logs around the router ([`observability`]).
//!
//! Authentication happens here, before the schema runs: the schema sees a
//! [`Principal`](crate::auth::Principal) and never a token.

pub mod apq;
pub mod caller;
pub mod connections;
pub mod graphql_over_http;
pub mod media;
mod multipart;
pub mod observability;
pub mod rate_limit;
pub mod request;
pub mod response;
pub mod ws;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::graphql::AppSchema;
use crate::service::Services;

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
        .route("/metrics", get(observability::metrics))
        .merge(crate::playground::routes())
        .with_state(state)
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
