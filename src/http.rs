//! HTTP transport: `POST/GET /graphql`, the playground, health endpoints.
//! Authentication happens here, before the schema runs: a missing token is
//! anonymous (introspection only); a bad one is a 401, never a downgrade.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::auth::{Authenticator, Caller, Principal};
use crate::error::AppError;
use crate::graphql::AppSchema;
use crate::service::{users, Services};

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    pub auth: Arc<Authenticator>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
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
    let claims = state.auth.verify_header(value)?;
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

async fn execute(state: AppState, headers: HeaderMap, request: GraphQLBatchRequest) -> Response {
    let principal = match authenticate(&state, &headers).await {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    let batch = request.into_inner().data(principal);
    let mut response = state.schema.execute_batch(batch).await;
    match &mut response {
        async_graphql::BatchResponse::Single(r) => with_codes(r),
        async_graphql::BatchResponse::Batch(rs) => rs.iter_mut().for_each(with_codes),
    }
    GraphQLResponse::from(response).into_response()
}

/// Errors raised by the GraphQL engine itself (syntax, validation, variable
/// coercion, limits) carry no code; they are all the client's input.
fn with_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
}

async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLBatchRequest,
) -> Response {
    execute(state, headers, request).await
}

async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html || request.uri().query().is_none() {
        return Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response();
    }
    match GraphQLBatchRequest::from_request(request, &state).await {
        Ok(request) => execute(state, headers, request).await,
        Err(rejection) => rejection.into_response(),
    }
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
