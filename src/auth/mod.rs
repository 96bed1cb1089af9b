//! Bearer-token authentication: JWT verification, development token minting,
//! and turning a verified token into the calling user (`Principal`).

use std::time::Duration;

use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

use crate::config::{AuthConfig, ConfigError};
use crate::error::AppError;

/// The claims annograph reads. `email` (or `sub`) identifies the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    /// The identity a user is provisioned under: the email claim, else `sub`.
    pub fn identity(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.sub)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the Authorization header must be `Bearer <token>`")]
    MalformedHeader,
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

/// Verifies bearer tokens (HS256 with a shared secret, RS256/ES256 with a PEM
/// public key; both may be configured) and mints HS256 development tokens.
#[derive(Clone)]
pub struct Authenticator {
    hmac: Option<(EncodingKey, DecodingKey)>,
    public: Option<(Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
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
        if hmac.is_none() && public.is_none() {
            return Err(ConfigError::Invalid(
                "configure ANNOGRAPH_JWT_SECRET or ANNOGRAPH_JWT_PUBLIC_KEY_FILE".into(),
            ));
        }
        Ok(Authenticator {
            hmac,
            public,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// Parses an `Authorization` header value.
    pub fn verify_header(&self, header: &str) -> Result<Claims, TokenError> {
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::MalformedHeader)?;
        self.verify(token)
    }

    /// Verifies signature, `exp`, and `iss`/`aud` when configured.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let key = match (header.alg, &self.hmac, &self.public) {
            (Algorithm::HS256, Some((_, key)), _) => key,
            (alg, _, Some((expected, key))) if alg == *expected => key,
            (alg, _, _) => {
                return Err(TokenError::Invalid(format!(
                    "algorithm {alg:?} is not accepted"
                )))
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = decode::<Claims>(token, key, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok(data.claims)
    }

    /// Mints an HS256 token for `email`, valid for `ttl`.
    pub fn mint(
        &self,
        email: &str,
        name: Option<&str>,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let (key, _) = self.hmac.as_ref().ok_or(TokenError::NoSigningKey)?;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: email.to_owned(),
            email: Some(email.to_owned()),
            name: name.map(str::to_owned),
            exp: now + ttl.as_secs(),
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, key)
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
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: uuid::Uuid,
    pub email: String,
    pub workspace_role: String,
}

impl Principal {
    pub fn caller(&self) -> Result<&Caller, AppError> {
        match self {
            Principal::User(c) => Ok(c),
            Principal::Anonymous => Err(AppError::unauthenticated()),
        }
    }
}
