//! Bearer-token authentication: JWT verification, development token minting,
//! and turning a verified token into the calling user (`Principal`).

mod jwks;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::config::{AuthConfig, ConfigError};
use crate::error::AppError;
use crate::recent::Recent;

/// Longest bearer token accepted. Real tokens are well under 2 KiB; a longer
/// one is refused before it is decoded, so that a large header costs nothing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// How many verified tokens [`Authenticator`] keeps.
const VERIFIED_ENTRIES: usize = 1024;

/// The `kid` of tokens signed with a `--demo` process's own key.
const DEMO_KEY_ID: &str = "annograph-demo";

/// The `aud` claim: one audience or several (Auth0, Keycloak and Entra send
/// a list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn values(&self) -> &[String] {
        match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        }
    }
}

/// The claims annograph reads. `email` (or `sub`) identifies the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `false`: the identity provider has not checked that the user owns
    /// `email`; such a token never signs in (absent: trusted as verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

impl Claims {
    /// The identity a user is provisioned under: the email claim, else `sub`.
    pub fn identity(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.sub)
    }

    /// Every text claim annograph reads or stores.
    fn texts(&self) -> impl Iterator<Item = &str> {
        [&self.email, &self.name, &self.iss]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .chain(std::iter::once(self.sub.as_str()))
            .chain(
                self.aud
                    .iter()
                    .flat_map(|a| a.values().iter().map(String::as_str)),
            )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the Authorization header must be `Bearer <token>`")]
    MalformedHeader,
    #[error("the token is longer than 8 KiB")]
    TooLong,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("no secret is configured to sign tokens")]
    NoSigningKey,
}

impl From<TokenError> for AppError {
    fn from(err: TokenError) -> Self {
        AppError::Unauthenticated(err.to_string())
    }
}

/// Why `jsonwebtoken` refused a token, in words a client can act on.
fn invalid(e: jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind;
    TokenError::Invalid(match e.kind() {
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
        ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        _ => e.to_string(),
    })
}

/// Verifies bearer tokens (HS256 with a shared secret; RS256 / ES256 with a
/// PEM public key; RS256 / ES256 / EdDSA with the keys of a JWKS URL; any of
/// them may be configured together) and mints HS256 development tokens.
#[derive(Clone)]
pub struct Authenticator {
    hmac: Option<(EncodingKey, DecodingKey)>,
    public: Option<(Algorithm, DecodingKey)>,
    jwks: Option<Arc<jwks::RemoteKeys>>,
    /// A `--demo` process's own key, made at start and never stored: the
    /// tokens it signs die with the process and no other server accepts them.
    demo: Option<(EncodingKey, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    /// Tokens that passed verification, by their text: a client sends the
    /// same token with every request until it expires, and a signature
    /// (an RSA or EC one above all) costs more than the rest of a small
    /// request. Its time claims are checked on every request all the same,
    /// and it is verified again in full once the identity provider's keys
    /// are fetched again (a retired key stops working at once).
    verified: Arc<Recent<Box<str>, Arc<Verification>>>,
}

/// The claims of a token that passed verification, and the key set it was
/// verified under.
struct Verification {
    claims: Claims,
    keys: u64,
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Result<Authenticator, ConfigError> {
        let invalid = |what: &str, e: jsonwebtoken::errors::Error| {
            ConfigError::Invalid(format!("{what}: {e}"))
        };
        let hmac = match &config.secret {
            Some(secret) => Some((
                EncodingKey::from_secret(secret.expose().as_bytes())
                    .map_err(|e| invalid("ANNOGRAPH_JWT_SECRET", e))?,
                DecodingKey::from_secret(secret.expose().as_bytes())
                    .map_err(|e| invalid("ANNOGRAPH_JWT_SECRET", e))?,
            )),
            None => None,
        };
        let public = match &config.public_key_pem {
            Some(pem) => Some(match DecodingKey::from_rsa_pem(pem) {
                Ok(key) => (Algorithm::RS256, key),
                Err(_) => (
                    Algorithm::ES256,
                    DecodingKey::from_ec_pem(pem).map_err(|e| {
                        invalid(
                            "ANNOGRAPH_JWT_PUBLIC_KEY_FILE is neither an RSA nor an EC public key",
                            e,
                        )
                    })?,
                ),
            }),
            None => None,
        };
        let jwks = match &config.jwks_url {
            Some(url) => Some(Arc::new(jwks::RemoteKeys::new(url, &config.jwks)?)),
            None => None,
        };
        if hmac.is_none() && public.is_none() && jwks.is_none() {
            return Err(ConfigError::Invalid(
                "configure ANNOGRAPH_JWT_SECRET, ANNOGRAPH_JWT_PUBLIC_KEY_FILE or ANNOGRAPH_JWT_JWKS_URL"
                    .into(),
            ));
        }
        Ok(Authenticator {
            hmac,
            public,
            jwks,
            demo: None,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway,
            verified: Arc::new(Recent::new(VERIFIED_ENTRIES)),
        })
    }

    /// Fetches the JWKS (when one is configured) and keeps it fresh in the
    /// background; fails when the first fetch does.
    pub async fn start(&self) -> Result<(), ConfigError> {
        if let Some(jwks) = &self.jwks {
            jwks.refresh()
                .await
                .map_err(|e| ConfigError::Invalid(format!("ANNOGRAPH_JWT_JWKS_URL: {e}")))?;
            jwks::RemoteKeys::keep_fresh(jwks);
        }
        Ok(())
    }

    /// Makes this authenticator also accept (and mint, with
    /// [`Authenticator::mint_demo`]) tokens of a fresh random key.
    pub fn with_demo_key(mut self) -> Result<Authenticator, ConfigError> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let invalid = |e: jsonwebtoken::errors::Error| {
            ConfigError::Invalid(format!("making the demo key: {e}"))
        };
        self.demo = Some((
            EncodingKey::from_secret(&secret).map_err(invalid)?,
            DecodingKey::from_secret(&secret).map_err(invalid)?,
        ));
        Ok(self)
    }

    /// Parses an `Authorization` header value.
    pub async fn verify_header(&self, header: &str) -> Result<Claims, TokenError> {
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::MalformedHeader)?;
        self.verify(token).await
    }

    /// Verifies size, signature, `exp`, `nbf`, and `iss`/`aud` when
    /// configured; refuses text claims holding U+0000.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        // Before any base64, signature or JSON work.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        // Read before verifying: keys fetched meanwhile make it stale.
        let keys = self.key_set();
        if let Some(known) = self.verified.get(token) {
            if known.keys == keys && self.in_time(&known.claims) {
                return Ok(known.claims.clone());
            }
            // Expired since, or other keys: checked in full, which says why
            // when it fails.
        }
        let claims = self.verify_in_full(token).await?;
        self.verified.insert(
            token.into(),
            Arc::new(Verification {
                claims: claims.clone(),
                keys,
            }),
        );
        Ok(claims)
    }

    /// Which set of keys verifies tokens now: the identity provider's
    /// change with each fetch; the configured ones never do.
    fn key_set(&self) -> u64 {
        self.jwks.as_ref().map_or(0, |jwks| jwks.generation())
    }

    /// Whether a token's `exp` and `nbf` hold now, as the full check reads
    /// them (within the leeway).
    fn in_time(&self, claims: &Claims) -> bool {
        let now = jsonwebtoken::get_current_timestamp();
        let leeway = self.leeway.as_secs();
        claims.exp.saturating_add(leeway) >= now
            && claims
                .nbf
                .is_none_or(|nbf| nbf <= now.saturating_add(leeway))
    }

    async fn verify_in_full(&self, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(invalid)?;
        let refused =
            |alg: Algorithm| TokenError::Invalid(format!("algorithm {alg:?} is not accepted"));
        let key = match (header.alg, header.kid.as_deref()) {
            (Algorithm::HS256, Some(DEMO_KEY_ID)) => match &self.demo {
                Some((_, key)) => key.clone(),
                None => {
                    return Err(TokenError::Invalid(
                        "a demo token is accepted only by the demo server that issued it".into(),
                    ))
                }
            },
            (Algorithm::HS256, _) => match &self.hmac {
                Some((_, key)) => key.clone(),
                None => return Err(refused(header.alg)),
            },
            (alg, kid) => match (&self.jwks, &self.public) {
                (Some(jwks), _) => jwks.key(alg, kid).await?,
                (None, Some((expected, key))) if alg == *expected => key.clone(),
                _ => return Err(refused(alg)),
            },
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        // `required_spec_claims` replaces the default list, so it names
        // every claim that must be there.
        let mut required = vec!["exp", "sub"];
        match &self.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(invalid)?
            .claims;
        // PostgreSQL cannot store U+0000, and no identity needs it.
        if claims.texts().any(|text| text.contains('\0')) {
            return Err(TokenError::Invalid(
                "a claim holds a NUL character (U+0000)".into(),
            ));
        }
        Ok(claims)
    }

    fn claims_for(&self, email: &str, name: Option<&str>, ttl: Duration) -> Claims {
        let now = jsonwebtoken::get_current_timestamp();
        Claims {
            sub: email.to_owned(),
            email: Some(email.to_owned()),
            email_verified: None,
            name: name.map(str::to_owned),
            exp: now + ttl.as_secs(),
            nbf: None,
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone().map(Audience::One),
        }
    }

    /// Mints an HS256 token for `email`, valid for `ttl`.
    pub fn mint(
        &self,
        email: &str,
        name: Option<&str>,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let (key, _) = self.hmac.as_ref().ok_or(TokenError::NoSigningKey)?;
        encode(
            &Header::new(Algorithm::HS256),
            &self.claims_for(email, name, ttl),
            key,
        )
        .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Mints a token with the demo key: only this process accepts it.
    pub fn mint_demo(
        &self,
        email: &str,
        name: Option<&str>,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let (key, _) = self.demo.as_ref().ok_or(TokenError::NoSigningKey)?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(DEMO_KEY_ID.to_owned());
        encode(&header, &self.claims_for(email, name, ttl), key)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

/// Who is calling: nobody (may only introspect) or a provisioned user.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    User(Caller),
}

/// An authenticated, provisioned user as the services see them.
///
/// Who the user is (id and e-mail) is known when the request starts; their
/// workspace role is read from the database the first time something needs
/// it in this request (`crate::service::users::workspace_role`), so that a
/// request that only reads what the user was granted asks nothing about the
/// user, and one that needs the role sees it as it is now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: uuid::Uuid,
    pub email: String,
    workspace_role: std::sync::Arc<tokio::sync::OnceCell<entity::enums::Role>>,
}

impl Caller {
    /// A caller whose workspace role was just read with their row.
    pub fn with_role(id: uuid::Uuid, email: String, role: entity::enums::Role) -> Caller {
        Caller {
            id,
            email,
            workspace_role: std::sync::Arc::new(tokio::sync::OnceCell::new_with(Some(role))),
        }
    }

    /// A caller whose workspace role is read when first needed.
    pub fn role_unread(id: uuid::Uuid, email: String) -> Caller {
        Caller {
            id,
            email,
            workspace_role: Default::default(),
        }
    }

    /// Where this request keeps the caller's workspace role once read.
    pub fn workspace_role_cell(&self) -> &tokio::sync::OnceCell<entity::enums::Role> {
        &self.workspace_role
    }
}

impl Principal {
    pub fn caller(&self) -> Result<&Caller, AppError> {
        match self {
            Principal::User(c) => Ok(c),
            Principal::Anonymous => Err(AppError::unauthenticated()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_claim_reads_a_string_or_a_list() {
        let one: Claims =
            serde_json::from_value(serde_json::json!({ "sub": "s", "exp": 1, "aud": "a" }))
                .unwrap();
        assert_eq!(one.aud, Some(Audience::One("a".into())));
        let many: Claims =
            serde_json::from_value(serde_json::json!({ "sub": "s", "exp": 1, "aud": ["a", "b"] }))
                .unwrap();
        assert_eq!(many.aud.unwrap().values(), ["a", "b"]);
    }
}
