//! Who a request or a WebSocket connection acts for: the one place that
//! reads a bearer token, verifies it ([`crate::auth`]) and provisions the
//! user it names.
//!
//! A token reaches the server two ways, the `Authorization` header and the
//! `connection_init` payload of `/graphql/ws`; both become [`Credentials`]
//! and go through the same verification. A missing token is anonymous; a
//! malformed or invalid one is an UNAUTHENTICATED error, never a silent
//! downgrade. Each transport answers that error in its own shape (a 401
//! GraphQL body, a 4403 close).
//!
//! Reading and checking are two steps on purpose. [`Credentials`] is an
//! extractor that only reads the header; `/graphql` checks the token later,
//! after it has answered what the GraphQL-over-HTTP specification ranks
//! first (406, 415, 413, 400), so that a malformed request costs no
//! signature check, no database write and no turn in the rate limits. The
//! upgrade of `/graphql/ws` has nothing to check first, and extracts a
//! [`Session`] at once.

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde_json::{Map, Value};

use super::response::error_response;
use super::AppState;
use crate::auth::{Authenticator, Claims, Principal};
use crate::error::AppError;
use crate::service::{users, Services};

/// A bearer token as presented, not yet checked.
#[derive(Debug, Clone)]
pub struct Credentials(Presented);

#[derive(Debug, Clone)]
enum Presented {
    Nothing,
    /// An `Authorization` value: `Bearer <token>`.
    Authorization(String),
    /// An `Authorization` header that is not text.
    NotText,
}

/// A `connection_init` payload whose `Authorization` is not a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAString;

impl Credentials {
    /// The `Authorization` header of a request.
    pub fn from_headers(headers: &HeaderMap) -> Credentials {
        Credentials(match headers.get(header::AUTHORIZATION) {
            None => Presented::Nothing,
            Some(value) => match value.to_str() {
                Ok(value) => Presented::Authorization(value.to_owned()),
                Err(_) => Presented::NotText,
            },
        })
    }

    /// The `Authorization` of a `connection_init` payload:
    /// `{"Authorization": "Bearer …"}`, `authorization`, or either under
    /// `headers`, as WebSocket clients put it.
    pub fn from_init_payload(payload: &Map<String, Value>) -> Result<Credentials, NotAString> {
        let headers = payload.get("headers").and_then(Value::as_object);
        let value = payload
            .get("Authorization")
            .or_else(|| payload.get("authorization"))
            .or_else(|| headers.and_then(|h| h.get("Authorization")))
            .or_else(|| headers.and_then(|h| h.get("authorization")));
        match value {
            None | Some(Value::Null) => Ok(Credentials(Presented::Nothing)),
            Some(Value::String(value)) => Ok(Credentials(Presented::Authorization(value.clone()))),
            Some(_) => Err(NotAString),
        }
    }

    /// Whether a token was presented at all.
    pub fn is_present(&self) -> bool {
        !matches!(self.0, Presented::Nothing)
    }

    /// Checks the token (signature, expiry, issuer, audience), without
    /// touching the database.
    pub async fn verify(&self, auth: &Authenticator) -> Result<Verified, AppError> {
        match &self.0 {
            Presented::Nothing => Ok(Verified(None)),
            Presented::NotText => Err(AppError::Unauthenticated(
                "the Authorization header is not valid text".into(),
            )),
            Presented::Authorization(value) => Ok(Verified(Some(auth.verify_header(value).await?))),
        }
    }

    /// Checks the token and provisions the user it names.
    pub async fn sign_in(&self, state: &AppState) -> Result<Session, AppError> {
        self.verify(&state.auth)
            .await?
            .sign_in(&state.services)
            .await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Credentials::from_headers(&parts.headers))
    }
}

/// A token that verified, or none (anonymous).
#[derive(Debug, Clone)]
pub struct Verified(Option<Claims>);

impl Verified {
    pub fn is_signed_in(&self) -> bool {
        self.0.is_some()
    }

    /// Signs in the user the token names (creating them on first sight).
    pub async fn sign_in(self, services: &Services) -> Result<Session, AppError> {
        let Some(claims) = self.0 else {
            return Ok(Session::anonymous());
        };
        Ok(Session {
            principal: Principal::User(users::sign_in(services, &claims).await?),
            expires_at: Some(claims.exp),
        })
    }
}

/// Who a request or a connection acts for, and until when.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// The token's `exp` (seconds since the epoch).
    pub expires_at: Option<u64>,
}

impl Session {
    pub fn anonymous() -> Session {
        Session {
            principal: Principal::Anonymous,
            expires_at: None,
        }
    }

    /// Time left before the token expires (`None`: never).
    pub fn remaining(&self) -> Option<Duration> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.expires_at
            .map(|exp| Duration::from_secs(exp).saturating_sub(now))
    }
}

/// The caller named by the `Authorization` header; a bad token is refused
/// with a 401 GraphQL error body.
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Credentials::from_headers(&parts.headers)
            .sign_in(state)
            .await
            .map_err(error_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(payload: Value) -> Result<Option<String>, NotAString> {
        let credentials = Credentials::from_init_payload(payload.as_object().unwrap())?;
        Ok(match credentials.0 {
            Presented::Authorization(value) => Some(value),
            _ => None,
        })
    }

    #[test]
    fn finds_the_token_of_a_connection_init_payload() {
        assert_eq!(
            token(json!({"Authorization": "Bearer a"})),
            Ok(Some("Bearer a".into()))
        );
        assert_eq!(
            token(json!({"authorization": "Bearer b"})),
            Ok(Some("Bearer b".into()))
        );
        assert_eq!(
            token(json!({"headers": {"Authorization": "Bearer c"}})),
            Ok(Some("Bearer c".into()))
        );
        assert_eq!(token(json!({})), Ok(None));
        assert_eq!(token(json!({"Authorization": null})), Ok(None));
        assert_eq!(token(json!({"Authorization": 1})), Err(NotAString));
    }
}
