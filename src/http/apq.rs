//! Automatic persisted queries (the Apollo APQ protocol): a client may send
//! only the SHA-256 of a query it sent before. An unknown hash answers
//! `PersistedQueryNotFound`, and the client retries with the full text, which
//! is then remembered. The cache is per instance and bounded; a miss on
//! another instance costs one retry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_graphql::{ServerError, Value};
use sha2::{Digest, Sha256};

/// The error code clients look for to resend the full query.
pub const NOT_FOUND_CODE: &str = "PERSISTED_QUERY_NOT_FOUND";

pub struct PersistedQueries {
    capacity: usize,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    queries: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
}

fn error(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

impl PersistedQueries {
    pub fn new(capacity: usize) -> PersistedQueries {
        PersistedQueries {
            capacity: capacity.max(1),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Fills in (or checks and remembers) the query of a request that uses
    /// the `persistedQuery` extension; other requests pass unchanged.
    pub fn resolve(&self, request: &mut async_graphql::Request) -> Result<(), ServerError> {
        let Some(persisted) = request.extensions.0.get("persistedQuery") else {
            return Ok(());
        };
        let Value::Object(fields) = persisted else {
            return Err(error("persistedQuery must be an object", "BAD_USER_INPUT"));
        };
        match fields.get("version") {
            Some(Value::Number(n)) if n.as_i64() == Some(1) => {}
            _ => {
                return Err(error(
                    "only persisted query version 1 is supported",
                    "BAD_USER_INPUT",
                ))
            }
        }
        let hash = match fields.get("sha256Hash") {
            Some(Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                h.to_ascii_lowercase()
            }
            _ => {
                return Err(error(
                    "persistedQuery.sha256Hash must be a SHA-256 in hex",
                    "BAD_USER_INPUT",
                ))
            }
        };
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if request.query.is_empty() {
            return match cache.queries.get(&hash) {
                Some(query) => {
                    request.query = query.to_string();
                    Ok(())
                }
                None => Err(error("PersistedQueryNotFound", NOT_FOUND_CODE)),
            };
        }
        let actual = hex::encode(Sha256::digest(request.query.as_bytes()));
        if actual != hash {
            return Err(error("provided sha does not match query", "BAD_USER_INPUT"));
        }
        if !cache.queries.contains_key(&hash) {
            if cache.order.len() >= self.capacity {
                if let Some(oldest) = cache.order.pop_front() {
                    cache.queries.remove(&oldest);
                }
            }
            cache.order.push_back(hash.clone());
            cache.queries.insert(hash, request.query.as_str().into());
        }
        Ok(())
    }
}

/// True for the answer that asks the client to resend the full query: it is
/// part of the protocol, not a failed request, so it keeps status 200.
pub fn is_not_found(response: &async_graphql::Response) -> bool {
    response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == Value::from(NOT_FOUND_CODE))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hash(query: &str, hash: &str) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(query);
        request.extensions = serde_json::from_value(serde_json::json!({
            "persistedQuery": { "version": 1, "sha256Hash": hash }
        }))
        .unwrap();
        request
    }

    #[test]
    fn a_query_is_remembered_by_its_hash_and_the_oldest_is_forgotten() {
        let apq = PersistedQueries::new(1);
        let query = "{ me { email } }";
        let hash = hex::encode(Sha256::digest(query.as_bytes()));
        let err = apq.resolve(&mut with_hash("", &hash)).unwrap_err();
        assert_eq!(err.message, "PersistedQueryNotFound");
        apq.resolve(&mut with_hash(query, &hash)).unwrap();
        let mut again = with_hash("", &hash);
        apq.resolve(&mut again).unwrap();
        assert_eq!(again.query, query);
        assert!(
            apq.resolve(&mut with_hash("{ other }", &hash)).is_err(),
            "hash mismatch"
        );
        let other = "{ __typename }";
        apq.resolve(&mut with_hash(
            other,
            &hex::encode(Sha256::digest(other.as_bytes())),
        ))
        .unwrap();
        assert!(apq.resolve(&mut with_hash("", &hash)).is_err(), "evicted");
    }
}
