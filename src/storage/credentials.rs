//! The write-only secrets of an integration: parsed and checked on write,
//! read back only to build a client, and listed so that every message can be
//! scrubbed of them. Nothing here implements `Debug`.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue};
use entity::integration;
use serde::Deserialize;
use serde_json::Value;

use crate::config::Secret;
use crate::error::{AppError, AppResult};
use crate::storage::settings::Provider;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct S3Credentials {
    pub(crate) access_key_id: Secret,
    pub(crate) secret_access_key: Secret,
    #[serde(default)]
    pub(crate) session_token: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GcsCredentials {
    #[serde(deserialize_with = "json_text")]
    pub(crate) service_account_key: Secret,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AzureCredentials {
    #[serde(default)]
    pub(crate) access_key: Option<Secret>,
    #[serde(default)]
    pub(crate) sas_token: Option<Secret>,
    #[serde(default)]
    pub(crate) client_id: Option<Secret>,
    #[serde(default)]
    pub(crate) client_secret: Option<Secret>,
    #[serde(default)]
    pub(crate) tenant_id: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HttpCredentials {
    #[serde(default)]
    pub(crate) bearer_token: Option<Secret>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, Secret>,
}

/// A key file given as a JSON object or as its text.
pub(crate) fn json_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Secret, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(Secret::new(text)),
        object @ Value::Object(_) => Ok(Secret::new(object.to_string())),
        _ => Err(serde::de::Error::custom("expected a JSON object or text")),
    }
}

/// The secret part of one integration, parsed. No `Debug`.
pub(crate) enum Secrets {
    None,
    S3(S3Credentials),
    Gcs(GcsCredentials),
    Azure(AzureCredentials),
    Http(HttpCredentials),
}

pub(crate) const CREDENTIAL_KEYS_S3: &str =
    "accessKeyId, secretAccessKey and optionally sessionToken";
pub(crate) const CREDENTIAL_KEYS_GCS: &str = "serviceAccountKey (the service account key file)";
pub(crate) const CREDENTIAL_KEYS_AZURE: &str =
    "one of accessKey, sasToken, or clientId with clientSecret and tenantId";
pub(crate) const CREDENTIAL_KEYS_HTTP: &str =
    "bearerToken and/or headers (an object of header values)";

/// Parses credentials. Messages never quote what was sent: a misplaced value
/// may be a secret.
pub(crate) fn parse_credentials(provider: Provider, credentials: &Value) -> AppResult<Secrets> {
    fn parse<T: serde::de::DeserializeOwned>(
        provider: Provider,
        keys: &str,
        value: &Value,
    ) -> AppResult<T> {
        serde_json::from_value(value.clone()).map_err(|_| {
            AppError::bad_input(format!(
                "invalid {} credentials: they must be a JSON object of text values with {keys}",
                provider.as_str()
            ))
        })
    }
    crate::service::input::json_input("credentials", credentials)?;
    if credentials.is_null() {
        return Ok(Secrets::None);
    }
    Ok(match provider {
        Provider::S3 => {
            let c: S3Credentials = parse(provider, CREDENTIAL_KEYS_S3, credentials)?;
            if c.access_key_id.expose().trim().is_empty()
                || c.secret_access_key.expose().trim().is_empty()
            {
                return Err(AppError::bad_input(
                    "S3 credentials need a non-empty accessKeyId and secretAccessKey",
                ));
            }
            Secrets::S3(c)
        }
        Provider::Gcs => {
            let c: GcsCredentials = parse(provider, CREDENTIAL_KEYS_GCS, credentials)?;
            let is_key_file = serde_json::from_str::<Value>(c.service_account_key.expose())
                .is_ok_and(|k| {
                    k.get("private_key").is_some_and(Value::is_string)
                        && k.get("client_email").is_some_and(Value::is_string)
                });
            if !is_key_file {
                return Err(AppError::bad_input(
                    "serviceAccountKey must be a service account key file (JSON with client_email and private_key)",
                ));
            }
            Secrets::Gcs(c)
        }
        Provider::Azure => {
            let c: AzureCredentials = parse(provider, CREDENTIAL_KEYS_AZURE, credentials)?;
            let service_principal = [&c.client_id, &c.client_secret, &c.tenant_id];
            let methods = usize::from(c.access_key.is_some())
                + usize::from(c.sas_token.is_some())
                + usize::from(service_principal.iter().any(|s| s.is_some()));
            if methods != 1
                || (service_principal.iter().any(|s| s.is_some())
                    && !service_principal.iter().all(|s| s.is_some()))
            {
                return Err(AppError::bad_input(format!(
                    "AZURE credentials take {CREDENTIAL_KEYS_AZURE}"
                )));
            }
            Secrets::Azure(c)
        }
        Provider::Http => {
            let c: HttpCredentials = parse(provider, CREDENTIAL_KEYS_HTTP, credentials)?;
            for (name, value) in &c.headers {
                if HeaderName::from_bytes(name.as_bytes()).is_err()
                    || HeaderValue::from_str(value.expose()).is_err()
                {
                    return Err(AppError::bad_input(
                        "credentials.headers must map header names to header values",
                    ));
                }
            }
            if c.bearer_token.is_some()
                && c.headers
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case("authorization"))
            {
                return Err(AppError::bad_input(
                    "give either bearerToken or an Authorization header, not both",
                ));
            }
            Secrets::Http(c)
        }
        Provider::Local => {
            return Err(AppError::bad_input(
                "LOCAL integrations take no credentials",
            ))
        }
    })
}

pub(crate) fn stored_secrets(provider: Provider, model: &integration::Model) -> AppResult<Secrets> {
    match &model.credentials {
        None => Ok(Secrets::None),
        Some(text) => {
            let value: Value = serde_json::from_str(text.expose()).map_err(|_| {
                AppError::internal(format!("integration {}: unreadable credentials", model.id))
            })?;
            parse_credentials(provider, &value).map_err(|_| {
                AppError::internal(format!(
                    "integration {}: invalid stored credentials",
                    model.id
                ))
            })
        }
    }
}

/// Every secret text of an integration's credentials, to scrub from messages.
pub(crate) fn secret_texts(credentials: Option<&integration::Credentials>) -> Vec<String> {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(text) = credentials {
        if let Ok(value) = serde_json::from_str::<Value>(text.expose()) {
            collect(&value, &mut out);
        }
    }
    // A service account key's own fields (the private key among them).
    let nested: Vec<String> = out
        .iter()
        .filter_map(|s| serde_json::from_str::<Value>(s).ok())
        .flat_map(|v| {
            let mut inner = Vec::new();
            collect(&v, &mut inner);
            inner
        })
        .collect();
    out.extend(nested);
    // Short values (a region, "true") are not worth scrubbing and would
    // garble messages; secrets are longer.
    out.retain(|s| s.len() >= 4);
    out
}
