//! The signing keys of an identity provider, read from its JWKS URL: fetched
//! at start, again when a token names a key not seen yet (at most once per
//! `min_refetch`), and every `refresh_every`, so that rotated keys come in and
//! retired ones go away without a restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::TokenError;
use crate::config::{ConfigError, JwksSettings};

/// Algorithms accepted from a JWKS.
const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

pub(super) struct RemoteKeys {
    url: url::Url,
    client: reqwest::Client,
    settings: JwksSettings,
    keys: RwLock<Arc<Vec<Key>>>,
    /// Counts the key sets stored: a verification made under an earlier
    /// set is made again.
    generation: AtomicU64,
    /// When the keys were last fetched; held while fetching, so that a burst
    /// of tokens with an unknown `kid` fetches once.
    fetched_at: tokio::sync::Mutex<Option<Instant>>,
}

impl RemoteKeys {
    pub(super) fn new(url: &str, settings: &JwksSettings) -> Result<RemoteKeys, ConfigError> {
        let url = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(|| {
                ConfigError::Invalid("ANNOGRAPH_JWT_JWKS_URL must be an http(s) URL".into())
            })?;
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| ConfigError::Invalid(format!("ANNOGRAPH_JWT_JWKS_URL: {e}")))?;
        Ok(RemoteKeys {
            url,
            client,
            settings: *settings,
            keys: RwLock::new(Arc::new(Vec::new())),
            generation: AtomicU64::new(0),
            fetched_at: tokio::sync::Mutex::new(None),
        })
    }

    fn current(&self) -> Arc<Vec<Key>> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    async fn fetch(&self) -> Result<Vec<Key>, String> {
        let response = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot fetch the key set: {e}"))?;
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("cannot read the key set: {e}"))?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("the key set is not a JWKS: {e}"))?;
        let keys: Vec<Key> = set.keys.iter().filter_map(usable).collect();
        if keys.is_empty() {
            return Err("the key set holds no RS256, ES256 or EdDSA signing key".into());
        }
        Ok(keys)
    }

    /// Fetches the keys now and replaces the known ones.
    pub(super) async fn refresh(&self) -> Result<(), String> {
        let mut fetched_at = self.fetched_at.lock().await;
        *fetched_at = Some(Instant::now());
        let keys = self.fetch().await?;
        self.store(keys);
        Ok(())
    }

    fn store(&self, keys: Vec<Key>) {
        let kids: Vec<&str> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        tracing::info!(url = %self.url, keys = ?kids, "identity provider keys loaded");
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut current) => *current = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Which key set is current (see `generation`).
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Fetches again for a token naming an unknown key, unless the keys were
    /// fetched less than `min_refetch` ago.
    async fn refetch_for_unknown_key(&self) {
        let mut fetched_at = self.fetched_at.lock().await;
        if fetched_at.is_some_and(|at| at.elapsed() < self.settings.min_refetch) {
            return;
        }
        *fetched_at = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => self.store(keys),
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "refreshing identity provider keys")
            }
        }
    }

    /// Refreshes the keys every `refresh_every` while the authenticator lives;
    /// a failed refresh keeps the keys known so far.
    pub(super) fn keep_fresh(this: &Arc<RemoteKeys>) {
        let weak = Arc::downgrade(this);
        let every = this.settings.refresh_every;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(keys) = weak.upgrade() else { break };
                if let Err(e) = keys.refresh().await {
                    tracing::warn!(url = %keys.url, error = %e, "refreshing identity provider keys");
                }
            }
        });
    }

    /// The key a token with `alg` and `kid` must be signed with.
    pub(super) async fn key(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<DecodingKey, TokenError> {
        let Some(kid) = kid else {
            let keys = self.current();
            return match keys.as_slice() {
                [only] => matching(only, alg),
                _ => Err(TokenError::Invalid(
                    "the token has no `kid` header, and the identity provider has several keys"
                        .into(),
                )),
            };
        };
        let find = |keys: &[Key]| keys.iter().position(|k| k.kid.as_deref() == Some(kid));
        let keys = self.current();
        if let Some(i) = find(&keys) {
            return matching(&keys[i], alg);
        }
        self.refetch_for_unknown_key().await;
        let keys = self.current();
        match find(&keys) {
            Some(i) => matching(&keys[i], alg),
            None => Err(TokenError::Invalid(format!(
                "the identity provider has no key `{kid}`"
            ))),
        }
    }
}

/// The key, when the token's algorithm is the one the key is for.
fn matching(key: &Key, alg: Algorithm) -> Result<DecodingKey, TokenError> {
    if key.alg == alg {
        Ok(key.key.clone())
    } else {
        Err(TokenError::Invalid(format!(
            "algorithm {alg:?} does not match the key's {:?}",
            key.alg
        )))
    }
}

/// A signing key of the set annograph can use, with its algorithm (the
/// declared `alg`, else the one its type and curve imply).
fn usable(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        _ => None,
    };
    let alg = match jwk.common.key_algorithm {
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(_) => None,
        None => implied,
    }
    .filter(|alg| ACCEPTED.contains(alg) && Some(*alg) == implied);
    let Some(alg) = alg else {
        tracing::debug!(kid = ?jwk.common.key_id, "skipping a key of an unsupported kind");
        return None;
    };
    match DecodingKey::from_jwk(jwk) {
        Ok(key) => Some(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        }),
        Err(e) => {
            tracing::warn!(kid = ?jwk.common.key_id, error = %e, "skipping an unreadable key");
            None
        }
    }
}
