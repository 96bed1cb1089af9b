//! Rate limits: a token bucket per signed-in user, and per client address
//! for callers without a token (or with a token that does not verify).
//!
//! Each `/graphql` request, WebSocket upgrade and WebSocket operation takes
//! one token; a bucket holds `burst` tokens and refills at `per_second`.
//! An empty bucket answers HTTP 429 with `Retry-After` (over WebSocket, an
//! `error` message), both with `extensions.code` `RATE_LIMITED`. Health,
//! readiness and metrics endpoints are never limited: probes must not starve.
//! Loopback clients are not limited unless `loopback` is set, so that tools
//! on the same host (and a reverse proxy there, which then needs it set) are
//! not throttled by accident.
//!
//! Written here rather than taken from `tower_governor`: the key (the user a
//! token names) is known only once the handler has verified the token, and
//! the answer must be a GraphQL error; the bucket itself is a dozen lines.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::Principal;

/// The client's address, put in each request's extensions by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Who a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    User(uuid::Uuid),
    Address(IpAddr),
}

impl RateKey {
    /// The signed-in user, else the client's address (`None` when unknown:
    /// a router called without a server in front, as some tests do).
    pub fn of(principal: &Principal, addr: Option<ClientAddr>) -> Option<RateKey> {
        match principal {
            Principal::User(caller) => Some(RateKey::User(caller.id)),
            Principal::Anonymous => addr.map(|a| RateKey::Address(a.0)),
        }
    }
}

/// The limits' settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSettings {
    /// Tokens added per second; 0 turns the limits off.
    pub per_second: f64,
    /// Most tokens a bucket holds: requests allowed at once after a pause.
    pub burst: u32,
    /// Limit loopback clients too.
    pub loopback: bool,
}

/// Buckets kept before full ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of one server.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateSettings,
    buckets: Mutex<HashMap<RateKey, Bucket>>,
}

/// A request refused: when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds for `Retry-After` (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }

    pub fn message(&self) -> String {
        format!(
            "too many requests; try again in {} s",
            self.retry_after_secs()
        )
    }
}

/// `extensions.code` of a refusal.
pub const RATE_LIMITED: &str = "RATE_LIMITED";

impl From<Limited> for async_graphql::ServerError {
    fn from(limited: Limited) -> Self {
        let mut error = async_graphql::ServerError::new(limited.message(), None);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", RATE_LIMITED);
        error.extensions = Some(extensions);
        error
    }
}

/// A 429 outside `/graphql`'s media negotiation (the WebSocket upgrade):
/// a JSON GraphQL error and `Retry-After`.
pub fn response(limited: Limited) -> axum::response::Response {
    use axum::response::IntoResponse;
    let error: async_graphql::ServerError = limited.into();
    let body = serde_json::json!({ "errors": [error] });
    let mut response =
        (axum::http::StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(limited.retry_after_secs()),
    );
    response
}

impl RateLimiter {
    pub fn new(settings: RateSettings) -> RateLimiter {
        RateLimiter {
            settings,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        self.settings.per_second > 0.0 && self.settings.burst > 0
    }

    /// Takes one token for `key`, coming from `addr`.
    pub fn check(&self, key: Option<RateKey>, addr: Option<ClientAddr>) -> Result<(), Limited> {
        let Some(key) = key else { return Ok(()) };
        if !self.enabled() {
            return Ok(());
        }
        if !self.settings.loopback && addr.is_some_and(|a| a.0.is_loopback()) {
            return Ok(());
        }
        self.take(key, Instant::now())
    }

    fn take(&self, key: RateKey, now: Instant) -> Result<(), Limited> {
        let RateSettings {
            per_second, burst, ..
        } = self.settings;
        let burst = f64::from(burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= PRUNE_ABOVE {
            // Full buckets are the same as none.
            let full = Duration::from_secs_f64(burst / per_second);
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < full);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / per_second;
            Err(Limited {
                retry_after: Duration::from_secs_f64(wait),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(RateSettings {
            per_second,
            burst,
            loopback: false,
        })
    }

    #[test]
    fn allows_the_burst_then_refills() {
        let limiter = limiter(2.0, 3);
        let key = RateKey::Address([10, 0, 0, 1].into());
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take(key, start).is_ok());
        }
        let refused = limiter.take(key, start).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        assert!(limiter
            .take(RateKey::User(uuid::Uuid::nil()), start)
            .is_ok());
        assert!(limiter
            .take(key, start + Duration::from_millis(500))
            .is_ok());
        assert!(limiter
            .take(key, start + Duration::from_millis(600))
            .is_err());
    }

    #[test]
    fn spares_loopback_unless_asked() {
        let lenient = limiter(1.0, 1);
        let addr = Some(ClientAddr([127, 0, 0, 1].into()));
        let key = Some(RateKey::Address([127, 0, 0, 1].into()));
        for _ in 0..5 {
            assert!(lenient.check(key, addr).is_ok());
        }
        let strict = RateLimiter::new(RateSettings {
            loopback: true,
            ..lenient.settings
        });
        assert!(strict.check(key, addr).is_ok());
        assert!(strict.check(key, addr).is_err());
        assert!(limiter(0.0, 1).check(key, None).is_ok());
    }
}
