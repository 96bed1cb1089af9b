//! What operators see of the HTTP front door, as one layer around the
//! router: metrics, CORS and the request log, plus `GET /metrics`.
//!
//! - **Metrics.** A `/graphql` response notes what it answered (the
//!   operation's name, the codes of the errors it sent) in a
//!   [`GraphQLOutcome`] extension. The layer counts each noted response in
//!   [`Metrics`] as it passes, so the handlers never touch the registry, and
//!   `GET /metrics` serves it in the Prometheus text format.
//! - **CORS** is off unless origins are configured (`--cors-origins`); then
//!   `GET`, `POST` and `OPTIONS` with `content-type`, `authorization` and
//!   `accept` are allowed from them, and preflights are answered here.
//! - **The request log** has one `info` line per request: method, path (never
//!   the query string, which may hold variables), status, latency and, for
//!   `/graphql`, the operation name. Headers (tokens) are never logged.
//!
//! The note travels in the response's extensions rather than through shared
//! state because only the handler knows the operation, and only the layer
//! sees the final status and latency of every route.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument as _;

use super::AppState;
use crate::metrics::{self, Metrics};

/// What a `/graphql` response answered, for the metrics and the log; kept in
/// the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct GraphQLOutcome {
    /// The operation's name: `operationName`, else the name of the
    /// document's only operation; `None` when anonymous or not known.
    pub operation: Option<String>,
    /// `extensions.code` of every error in the body.
    pub error_codes: Vec<String>,
}

impl GraphQLOutcome {
    /// The operation as logged and labelled: a GraphQL name, `anonymous`,
    /// `batch`, or `other` for anything that is not a name.
    pub fn label(&self) -> &str {
        match self.operation.as_deref() {
            None => metrics::ANONYMOUS,
            Some(name) if metrics::is_operation_name(name) => name,
            Some(_) => metrics::OTHER,
        }
    }
}

fn outcome(response: &mut Response) -> &mut GraphQLOutcome {
    let extensions = response.extensions_mut();
    if extensions.get::<GraphQLOutcome>().is_none() {
        extensions.insert(GraphQLOutcome::default());
    }
    extensions
        .get_mut::<GraphQLOutcome>()
        .expect("inserted above")
}

/// Notes the operation a `/graphql` response answers (`None`: anonymous).
pub fn note_operation(response: &mut Response, operation: Option<String>) {
    outcome(response).operation = operation;
}

/// Notes the codes of errors a `/graphql` response carries; a response with
/// no note at all is not counted as a GraphQL request (the playground page).
pub fn note_errors<I, S>(response: &mut Response, codes: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    outcome(response)
        .error_codes
        .extend(codes.into_iter().map(Into::into));
}

/// The `extensions.code` of every error of a GraphQL response.
pub fn error_codes(response: &async_graphql::Response) -> impl Iterator<Item = String> + '_ {
    response.errors.iter().map(|error| {
        match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(async_graphql::Value::String(code)) => code.clone(),
            Some(async_graphql::Value::Enum(code)) => code.to_string(),
            Some(other) => other.to_string(),
            None => "NONE".to_owned(),
        }
    })
}

/// Counts a `/graphql` response that was noted (see [`GraphQLOutcome`]).
fn record(metrics: &Metrics, started: Instant, response: &Response) {
    let Some(outcome) = response.extensions().get::<GraphQLOutcome>() else {
        return;
    };
    metrics.record_request(
        outcome.operation.as_deref(),
        response.status().as_u16(),
        started.elapsed(),
    );
    for code in &outcome.error_codes {
        metrics.record_error(code);
    }
}

/// `GET /metrics`: Prometheus text format, version 0.0.4.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        state.services.metrics.render(),
    )
        .into_response()
}

/// Wraps the router in CORS (when origins are configured), the metrics and
/// the request log.
pub fn layer(
    router: Router,
    cors_origins: &[String],
    metrics: Arc<Metrics>,
) -> anyhow::Result<Router> {
    let router = match cors_layer(cors_origins)? {
        Some(cors) => router.layer(cors),
        None => router,
    };
    Ok(router.layer(middleware::from_fn_with_state(metrics, observe)))
}

/// The CORS layer for the configured origins (`*`: any), or none when no
/// origin is configured.
pub fn cors_layer(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.contains(&"*") {
        if origins.len() > 1 {
            bail!("ANNOGRAPH_CORS_ORIGINS: `*` cannot be combined with other origins");
        }
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|origin| parse_origin(origin))
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
            .max_age(Duration::from_secs(600)),
    ))
}

/// An origin as browsers send it: `http(s)://host[:port]`, no path.
fn parse_origin(origin: &str) -> anyhow::Result<HeaderValue> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let valid = rest.is_some_and(|host| {
        !host.is_empty()
            && !host.contains('/')
            && host
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'@' | b','))
    });
    if !valid {
        bail!(
            "ANNOGRAPH_CORS_ORIGINS: `{origin}` is not an origin \
             (scheme://host[:port], no path or trailing slash, e.g. https://app.example.com)"
        );
    }
    HeaderValue::from_str(&origin.to_ascii_lowercase())
        .with_context(|| format!("ANNOGRAPH_CORS_ORIGINS: `{origin}` is not a valid header value"))
}

/// Counts a noted response and logs one line per request; runs the request
/// in a `request` span so that whatever it logs carries the method and path.
async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", %method, %path);
    let response = next.run(request).instrument(span).await;
    record(&metrics, started, &response);
    let latency_ms = started.elapsed().as_micros() as f64 / 1000.0;
    let status = response.status().as_u16();
    match response.extensions().get::<GraphQLOutcome>() {
        Some(outcome) => tracing::info!(
            %method,
            %path,
            status,
            latency_ms,
            operation = outcome.label(),
            "request"
        ),
        None => tracing::info!(%method, %path, status, latency_ms, "request"),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_origins() {
        assert!(cors_layer(&[]).unwrap().is_none());
        assert!(cors_layer(&[" ".into()]).unwrap().is_none());
        assert!(cors_layer(&["*".into()]).unwrap().is_some());
        assert!(
            cors_layer(&["https://a.example".into(), "http://localhost:3000".into()])
                .unwrap()
                .is_some()
        );
        for bad in [
            "a.example",
            "https://a.example/",
            "https://a.example/app",
            "ftp://a.example",
            "https://",
        ] {
            assert!(cors_layer(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(cors_layer(&["*".into(), "https://a.example".into()]).is_err());
    }
}
