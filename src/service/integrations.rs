//! Cloud storage integrations: named connections to S3 (and S3-compatible
//! endpoints), GCS, Azure, HTTP(S) and LOCAL root folders, read through the
//! `object_store` crate.
//!
//! An integration has non-secret settings (`config`, returned by the API) and
//! write-only `credentials` (stored, never returned by any field, error or log
//! line). USER may see an integration and import through it; ADMIN (the
//! creator) also edits, shares and deletes it; workspace ADMINs manage every
//! integration (`workspace, manage_integrations` in the policy).
//!
//! Settings per provider (JSON keys; anything else is refused):
//!
//! | provider | config | credentials |
//! |---|---|---|
//! | S3 | `bucket`, `region` (`us-east-1`), `endpoint`, `prefix`, `allowHttp`, `virtualHostedStyle` | `accessKeyId`, `secretAccessKey`, `sessionToken`; none: anonymous |
//! | GCS | `bucket`, `prefix` | `serviceAccountKey` (the key file, object or text); none: anonymous |
//! | AZURE | `account`, `container`, `endpoint`, `prefix`, `allowHttp` | one of `accessKey`, `sasToken`, `clientId` + `clientSecret` + `tenantId`; none: anonymous |
//! | HTTP | `baseUrl`, `allowHttp` | `bearerToken` and/or `headers` (name → value); none: anonymous |
//! | LOCAL | `root` (absolute, under a configured local storage root) | none |
//!
//! Without credentials a store reads anonymously: it never falls back to the
//! server's own cloud identity (instance metadata, environment, gcloud files).

use std::collections::BTreeMap;
use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::Utc;
use entity::file;
use entity::integration::{self, Credentials};
use futures_util::StreamExt;
use object_store::path::{Path as ObjectPath, PathPart};
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

use crate::auth::Caller;
use crate::config::Secret;
use crate::error::{AppError, AppResult};
use crate::policy::{Action, Kind};
use crate::service::access::{granted_ids, Access};
use crate::service::grants::{self, Grantee};
use crate::service::input::{contains_ci, required_text, search_term, TITLE_MAX};
use crate::service::page::{paginate, Page, PageArgs};
use crate::service::users::require_workspace;
use crate::service::{audit, Services};
use crate::storage::allow_list::{AllowList, HostVerdict, REFUSED};
use crate::storage::connector::{GuardedConnector, Refused};

/// How long a connection test may take before it is reported as failed.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Storage settings of the instance.
#[derive(Clone, Default)]
pub struct StorageSettings {
    local_roots: Arc<RwLock<Arc<[PathBuf]>>>,
    allowed_hosts: Arc<RwLock<Arc<AllowList>>>,
}

impl StorageSettings {
    /// The folders under which LOCAL integrations may have their root (none:
    /// LOCAL integrations are refused). Shared by every clone.
    pub fn set_local_roots(&self, roots: Vec<PathBuf>) {
        *self.local_roots.write().unwrap_or_else(|e| e.into_inner()) = roots.into();
    }

    pub fn local_roots(&self) -> Arc<[PathBuf]> {
        self.local_roots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The internal hosts and ranges integrations may reach (none: only
    /// public addresses). Shared by every clone.
    pub fn set_allowed_hosts(&self, allowed: AllowList) {
        *self
            .allowed_hosts
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(allowed);
    }

    pub fn allowed_hosts(&self) -> Arc<AllowList> {
        self.allowed_hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl std::fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageSettings")
            .field("local_roots", &self.local_roots())
            .field("allowed_hosts", &self.allowed_hosts())
            .finish()
    }
}

/// Where an integration's objects live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    S3,
    Gcs,
    Azure,
    Http,
    Local,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::S3,
        Provider::Gcs,
        Provider::Azure,
        Provider::Http,
        Provider::Local,
    ];

    /// The stored (and GraphQL) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::S3 => "S3",
            Provider::Gcs => "GCS",
            Provider::Azure => "AZURE",
            Provider::Http => "HTTP",
            Provider::Local => "LOCAL",
        }
    }

    pub fn parse(name: &str) -> AppResult<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                AppError::bad_input(format!(
                    "{name:?} is not a storage provider (expected S3, GCS, AZURE, HTTP or LOCAL)"
                ))
            })
    }
}

// ---- settings ------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct S3Config {
    bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    allow_http: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    virtual_hosted_style: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GcsConfig {
    bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AzureConfig {
    account: String,
    container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    allow_http: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HttpConfig {
    base_url: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    allow_http: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LocalConfig {
    root: PathBuf,
}

/// The non-secret settings of one integration, validated.
#[derive(Debug, Clone)]
enum Settings {
    S3(S3Config),
    Gcs(GcsConfig),
    Azure(AzureConfig),
    Http(HttpConfig),
    Local(LocalConfig),
}

impl Settings {
    /// The settings as stored (and returned): normalized, defaults left out.
    fn to_json(&self) -> Value {
        let value = match self {
            Settings::S3(c) => serde_json::to_value(c),
            Settings::Gcs(c) => serde_json::to_value(c),
            Settings::Azure(c) => serde_json::to_value(c),
            Settings::Http(c) => serde_json::to_value(c),
            Settings::Local(c) => serde_json::to_value(c),
        };
        value.unwrap_or(Value::Null)
    }

    /// The key prefix objects must lie under (cloud providers).
    fn prefix(&self) -> Option<&str> {
        match self {
            Settings::S3(c) => c.prefix.as_deref(),
            Settings::Gcs(c) => c.prefix.as_deref(),
            Settings::Azure(c) => c.prefix.as_deref(),
            Settings::Http(_) | Settings::Local(_) => None,
        }
    }

    /// The prefix as a store path (validated on write).
    fn prefix_path(&self) -> Option<ObjectPath> {
        self.prefix().and_then(|p| ObjectPath::parse(p).ok())
    }

    /// The URL the store connects to, when the integration chose it.
    fn endpoint_url(&self) -> Option<Url> {
        let text = match self {
            Settings::S3(c) => c.endpoint.as_deref(),
            Settings::Azure(c) => c.endpoint.as_deref(),
            Settings::Http(c) => Some(c.base_url.as_str()),
            Settings::Gcs(_) | Settings::Local(_) => None,
        };
        text.and_then(|t| Url::parse(t).ok())
    }

    fn endpoint_field(&self) -> &'static str {
        match self {
            Settings::Http(_) => "baseUrl",
            _ => "endpoint",
        }
    }

    fn allow_http(&self) -> bool {
        match self {
            Settings::S3(c) => c.allow_http,
            Settings::Azure(c) => c.allow_http,
            Settings::Http(c) => c.allow_http,
            Settings::Gcs(_) | Settings::Local(_) => false,
        }
    }

    /// Where the stored credentials are sent: the bucket, container,
    /// account, endpoint, region or base URL. Changing it drops them.
    fn location(&self) -> Value {
        match self {
            Settings::S3(c) => json!([
                c.bucket,
                c.region.as_deref().unwrap_or("us-east-1"),
                c.endpoint,
                c.virtual_hosted_style
            ]),
            Settings::Gcs(c) => json!([c.bucket]),
            Settings::Azure(c) => json!([c.account, c.container, c.endpoint]),
            Settings::Http(c) => json!([c.base_url]),
            Settings::Local(c) => json!([c.root]),
        }
    }
}

const CONFIG_KEYS_S3: &str =
    "bucket, region, endpoint, prefix, allowHttp and virtualHostedStyle (bucket required)";
const CONFIG_KEYS_GCS: &str = "bucket and prefix (bucket required)";
const CONFIG_KEYS_AZURE: &str =
    "account, container, endpoint, prefix and allowHttp (account and container required)";
const CONFIG_KEYS_HTTP: &str = "baseUrl and allowHttp (baseUrl required)";
const CONFIG_KEYS_LOCAL: &str = "root (required)";

fn parse_config<T: serde::de::DeserializeOwned>(
    provider: Provider,
    keys: &str,
    config: &Value,
) -> AppResult<T> {
    if !config.is_object() {
        return Err(AppError::bad_input(format!(
            "config must be a JSON object; {} takes {keys}",
            provider.as_str()
        )));
    }
    crate::service::input::json_input("config", config)?;
    // Settings are not secret, so serde's words (which name the offending
    // key or value) may be shown.
    serde_json::from_value(config.clone()).map_err(|e| {
        AppError::bad_input(format!(
            "invalid {} config: {e}; it takes {keys}",
            provider.as_str()
        ))
    })
}

/// Parses and checks the settings of a `provider` integration. LOCAL roots
/// must exist and lie under one of `local_roots`; they are stored resolved.
/// Endpoints on internal addresses are refused unless `allowed` lists them
/// (names are checked again on what they resolve to, at each connection).
fn validate_config(
    provider: Provider,
    config: &Value,
    local_roots: &[PathBuf],
    allowed: &AllowList,
) -> AppResult<Settings> {
    let settings = parse_settings(provider, config, local_roots)?;
    if let Some(url) = settings.endpoint_url() {
        if allowed.verdict(&url) == HostVerdict::Refused {
            return Err(AppError::bad_input(format!(
                "{}: {REFUSED}",
                settings.endpoint_field()
            )));
        }
    }
    Ok(settings)
}

fn parse_settings(
    provider: Provider,
    config: &Value,
    local_roots: &[PathBuf],
) -> AppResult<Settings> {
    Ok(match provider {
        Provider::S3 => {
            let mut c: S3Config = parse_config(provider, CONFIG_KEYS_S3, config)?;
            c.bucket = bucket_name("bucket", &c.bucket)?;
            c.region = non_empty(c.region);
            if let Some(region) = &c.region {
                if !region
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                {
                    return Err(AppError::bad_input(
                        "region must be a region name such as eu-west-1",
                    ));
                }
            }
            c.endpoint = endpoint("endpoint", c.endpoint, c.allow_http)?;
            c.prefix = key_prefix(c.prefix)?;
            Settings::S3(c)
        }
        Provider::Gcs => {
            let mut c: GcsConfig = parse_config(provider, CONFIG_KEYS_GCS, config)?;
            c.bucket = bucket_name("bucket", &c.bucket)?;
            c.prefix = key_prefix(c.prefix)?;
            Settings::Gcs(c)
        }
        Provider::Azure => {
            let mut c: AzureConfig = parse_config(provider, CONFIG_KEYS_AZURE, config)?;
            c.account = c.account.trim().to_owned();
            if c.account.is_empty()
                || !c
                    .account
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            {
                return Err(AppError::bad_input(
                    "account must be a storage account name (lowercase letters and digits)",
                ));
            }
            c.container = bucket_name("container", &c.container)?;
            c.endpoint = endpoint("endpoint", c.endpoint, c.allow_http)?;
            c.prefix = key_prefix(c.prefix)?;
            Settings::Azure(c)
        }
        Provider::Http => {
            let mut c: HttpConfig = parse_config(provider, CONFIG_KEYS_HTTP, config)?;
            let url = endpoint("baseUrl", Some(c.base_url), c.allow_http)?
                .ok_or_else(|| AppError::bad_input("baseUrl must not be empty"))?;
            c.base_url = url;
            Settings::Http(c)
        }
        Provider::Local => {
            let c: LocalConfig = parse_config(provider, CONFIG_KEYS_LOCAL, config)?;
            Settings::Local(LocalConfig {
                root: allowed_local_root(&c.root, local_roots)?,
            })
        }
    })
}

/// The settings of a stored integration.
fn stored_settings(model: &integration::Model) -> AppResult<(Provider, Settings)> {
    let provider = Provider::parse(&model.provider)
        .map_err(|_| AppError::internal(format!("integration {} has no provider", model.id)))?;
    let settings = match provider {
        Provider::S3 => serde_json::from_value(model.config.clone()).map(Settings::S3),
        Provider::Gcs => serde_json::from_value(model.config.clone()).map(Settings::Gcs),
        Provider::Azure => serde_json::from_value(model.config.clone()).map(Settings::Azure),
        Provider::Http => serde_json::from_value(model.config.clone()).map(Settings::Http),
        Provider::Local => serde_json::from_value(model.config.clone()).map(Settings::Local),
    }
    .map_err(|e| AppError::internal(format!("integration {}: stored config: {e}", model.id)))?;
    Ok((provider, settings))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A bucket or container name: one path segment.
fn bucket_name(field: &str, name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 222
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(AppError::bad_input(format!(
            "{field} must be a {field} name (letters, digits, '-', '.', '_')"
        )));
    }
    Ok(name.to_owned())
}

/// An http(s) endpoint or base URL, without credentials, query or fragment;
/// plain http only with `allowHttp`. Returned with a trailing slash.
fn endpoint(field: &str, value: Option<String>, allow_http: bool) -> AppResult<Option<String>> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    let url = Url::parse(&value)
        .map_err(|e| AppError::bad_input(format!("{field} is not a valid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(AppError::bad_input(format!(
                "{field} uses plain http: set allowHttp to true to allow it"
            )))
        }
        _ => {
            return Err(AppError::bad_input(format!(
                "{field} must be an http or https URL"
            )))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(AppError::bad_input(format!("{field} must name a host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AppError::bad_input(format!(
            "{field} must not carry a user name or password: put secrets in credentials"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(AppError::bad_input(format!(
            "{field} must not have a query or fragment: put secrets in credentials"
        )));
    }
    let mut text = url.to_string();
    if !text.ends_with('/') {
        text.push('/');
    }
    Ok(Some(text))
}

/// A key prefix: segments without `.`/`..`, no leading or trailing slash.
fn key_prefix(prefix: Option<String>) -> AppResult<Option<String>> {
    let Some(prefix) = non_empty(prefix) else {
        return Ok(None);
    };
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    let path = ObjectPath::parse(trimmed).map_err(|_| {
        AppError::bad_input("prefix must be a key prefix such as videos/2024 (no '.' or '..' segments, no empty segments)")
    })?;
    if path.as_ref() != trimmed {
        return Err(AppError::bad_input(
            "prefix must be a key prefix such as videos/2024 (no empty segments)",
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

/// A LOCAL root: absolute, an existing directory, under one of the
/// configured local storage roots (symlinks resolved). Returns it resolved.
fn allowed_local_root(root: &FsPath, local_roots: &[PathBuf]) -> AppResult<PathBuf> {
    if local_roots.is_empty() {
        return Err(AppError::bad_input(
            "LOCAL integrations are disabled on this server: the operator must allow a folder with --local-storage-root (ANNOGRAPH_LOCAL_STORAGE_ROOTS)",
        ));
    }
    if !root.is_absolute() {
        return Err(AppError::bad_input("root must be an absolute path"));
    }
    if root.components().any(|c| c == Component::ParentDir) {
        return Err(AppError::bad_input("root must not contain '..'"));
    }
    let resolved = std::fs::canonicalize(root)
        .map_err(|_| AppError::bad_input("root must be an existing directory"))?;
    if resolved.to_str().is_none() {
        return Err(AppError::bad_input("root must be a UTF-8 path"));
    }
    if !resolved.is_dir() {
        return Err(AppError::bad_input("root must be an existing directory"));
    }
    let allowed = local_roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .any(|r| resolved.starts_with(&r));
    if !allowed {
        return Err(AppError::bad_input(
            "root must lie under one of the server's local storage roots",
        ));
    }
    Ok(resolved)
}

// ---- credentials -----------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct S3Credentials {
    access_key_id: Secret,
    secret_access_key: Secret,
    #[serde(default)]
    session_token: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GcsCredentials {
    #[serde(deserialize_with = "json_text")]
    service_account_key: Secret,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AzureCredentials {
    #[serde(default)]
    access_key: Option<Secret>,
    #[serde(default)]
    sas_token: Option<Secret>,
    #[serde(default)]
    client_id: Option<Secret>,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default)]
    tenant_id: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HttpCredentials {
    #[serde(default)]
    bearer_token: Option<Secret>,
    #[serde(default)]
    headers: BTreeMap<String, Secret>,
}

/// A key file given as a JSON object or as its text.
fn json_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(Secret::new(text)),
        object @ Value::Object(_) => Ok(Secret::new(object.to_string())),
        _ => Err(serde::de::Error::custom("expected a JSON object or text")),
    }
}

/// The secret part of one integration, parsed. No `Debug`.
enum Secrets {
    None,
    S3(S3Credentials),
    Gcs(GcsCredentials),
    Azure(AzureCredentials),
    Http(HttpCredentials),
}

const CREDENTIAL_KEYS_S3: &str = "accessKeyId, secretAccessKey and optionally sessionToken";
const CREDENTIAL_KEYS_GCS: &str = "serviceAccountKey (the service account key file)";
const CREDENTIAL_KEYS_AZURE: &str =
    "one of accessKey, sasToken, or clientId with clientSecret and tenantId";
const CREDENTIAL_KEYS_HTTP: &str = "bearerToken and/or headers (an object of header values)";

/// Parses credentials. Messages never quote what was sent: a misplaced value
/// may be a secret.
fn parse_credentials(provider: Provider, credentials: &Value) -> AppResult<Secrets> {
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

fn stored_secrets(provider: Provider, model: &integration::Model) -> AppResult<Secrets> {
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

/// Every secret text of an integration, to scrub from messages.
fn secret_texts(model: &integration::Model) -> Vec<String> {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(text) = &model.credentials {
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

/// A storage error in words a user can act on, without secrets: credentials,
/// and the query strings of URLs (SAS tokens, signatures), are removed.
pub fn describe_storage_error(error: &object_store::Error, secrets: &[String]) -> String {
    // A refused address: the same words whatever (if anything) is there.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        source = e.source();
    }
    match error {
        object_store::Error::NotFound { .. } => "the object was not found".to_owned(),
        object_store::Error::PermissionDenied { .. } => {
            "access denied: the credentials lack permission for this".to_owned()
        }
        object_store::Error::Unauthenticated { .. } => {
            "authentication failed: check the credentials".to_owned()
        }
        other => scrub(&without_bodies(&other.to_string()), secrets),
    }
}

/// A storage message without the bodies of error responses: an endpoint is
/// any URL a member types in, so what it answers is not shown back (except
/// the error code of an S3-style XML error).
fn without_bodies(text: &str) -> String {
    const MARKERS: [&str; 2] = [
        "Server returned non-2xx status code: ",
        "Server returned error response: ",
    ];
    let Some((at, marker)) = MARKERS
        .iter()
        .filter_map(|m| text.find(m).map(|at| (at, *m)))
        .min()
    else {
        return text.to_owned();
    };
    let rest = &text[at + marker.len()..];
    // "400 Bad Request: <body>": keep the status, drop the body.
    let (status, body) = if marker.contains("status code") {
        rest.split_once(": ").unwrap_or((rest, ""))
    } else {
        ("", rest)
    };
    let code = body
        .split_once("<Code>")
        .and_then(|(_, r)| r.split_once("</Code>"))
        .map(|(code, _)| code)
        .filter(|c| c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_alphanumeric()));
    let mut out = format!("{}{}{}", &text[..at], marker, status);
    if let Some(code) = code {
        out.push_str(&format!(" ({code})"));
    }
    out.trim_end_matches([' ', ':']).to_owned()
}

/// The longest storage message passed on.
const MESSAGE_MAX: usize = 600;

/// `text` with every secret (and its URL-encoded form) and request signature
/// replaced by `***`, the query string of every URL dropped, and cut to
/// [`MESSAGE_MAX`] characters.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    // Signatures of signed requests a server may echo (SigV4, SAS).
    for marker in ["Signature=", "signature=", "sig="] {
        let mut from = 0;
        while let Some(at) = out[from..].find(marker) {
            let start = from + at + marker.len();
            let end = out[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "%+/=-_".contains(c)))
                .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "***");
            from = start + 3;
        }
    }
    for secret in secrets {
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let percent = percent_encode_all(secret);
        for form in [secret.as_str(), encoded.as_str(), percent.as_str()] {
            if !form.is_empty() {
                out = out.replace(form, "***");
            }
        }
    }
    // Drop query strings: from '?' after a URL to the next whitespace.
    let mut cleaned = String::with_capacity(out.len());
    let mut in_query = false;
    let mut in_url = false;
    let mut word = String::new();
    for ch in out.chars() {
        if ch.is_whitespace() {
            in_query = false;
            in_url = false;
            word.clear();
            cleaned.push(ch);
            continue;
        }
        word.push(ch);
        if word.contains("://") {
            in_url = true;
        }
        if in_url && ch == '?' {
            in_query = true;
            cleaned.push_str("?…");
            continue;
        }
        if !in_query {
            cleaned.push(ch);
        }
    }
    if cleaned.chars().count() > MESSAGE_MAX {
        cleaned = cleaned.chars().take(MESSAGE_MAX).collect::<String>() + "…";
    }
    cleaned
}

fn percent_encode_all(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ---- stores ------------------------------------------------------------------

fn client_options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(120))
}

fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
        ..RetryConfig::default()
    }
}

/// A client for the integration's storage, reaching internal addresses
/// only where `storage` allows them. Objects are addressed from the bucket
/// (container, base URL, root) on: see [`object_path`].
pub fn store(
    storage: &StorageSettings,
    model: &integration::Model,
) -> Result<Arc<dyn ObjectStore>, AppError> {
    let (provider, settings) = stored_settings(model)?;
    let secrets = stored_secrets(provider, model)?;
    build_store(&settings, &secrets, storage.allowed_hosts()).map_err(|message| {
        AppError::bad_input(format!(
            "cannot connect to this storage: {}",
            scrub(&message, &secret_texts(model))
        ))
    })
}

fn build_store(
    settings: &Settings,
    secrets: &Secrets,
    allowed: Arc<AllowList>,
) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::aws::AmazonS3Builder;
    use object_store::azure::MicrosoftAzureBuilder;
    use object_store::gcp::GoogleCloudStorageBuilder;
    use object_store::http::HttpBuilder;
    use object_store::local::LocalFileSystem;
    // Every request of every cloud store, token requests included, goes
    // through this client.
    let connector = GuardedConnector::new(allowed, settings.allow_http());
    let built: object_store::Result<Arc<dyn ObjectStore>> = match settings {
        Settings::S3(c) => {
            let mut b = AmazonS3Builder::new()
                .with_bucket_name(&c.bucket)
                .with_region(c.region.as_deref().unwrap_or("us-east-1"))
                .with_virtual_hosted_style_request(c.virtual_hosted_style)
                .with_allow_http(c.allow_http)
                .with_client_options(client_options(c.allow_http))
                .with_http_connector(connector)
                .with_retry(retry());
            if let Some(endpoint) = &c.endpoint {
                b = b.with_endpoint(endpoint.trim_end_matches('/'));
            }
            b = match secrets {
                Secrets::S3(s) => {
                    let b = b
                        .with_access_key_id(s.access_key_id.expose())
                        .with_secret_access_key(s.secret_access_key.expose());
                    match &s.session_token {
                        Some(t) => b.with_token(t.expose()),
                        None => b,
                    }
                }
                _ => b.with_skip_signature(true),
            };
            b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        Settings::Gcs(c) => {
            let b = GoogleCloudStorageBuilder::new()
                .with_bucket_name(&c.bucket)
                .with_client_options(client_options(false))
                .with_http_connector(connector)
                .with_retry(retry());
            let b = match secrets {
                Secrets::Gcs(s) => b.with_service_account_key(s.service_account_key.expose()),
                _ => b.with_skip_signature(true),
            };
            b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        Settings::Azure(c) => {
            let mut b = MicrosoftAzureBuilder::new()
                .with_account(&c.account)
                .with_container_name(&c.container)
                .with_allow_http(c.allow_http)
                .with_client_options(client_options(c.allow_http))
                .with_http_connector(connector)
                .with_retry(retry());
            if let Some(endpoint) = &c.endpoint {
                b = b.with_endpoint(endpoint.trim_end_matches('/').to_owned());
            }
            b = match secrets {
                Secrets::Azure(s) => {
                    if let Some(key) = &s.access_key {
                        b.with_access_key(key.expose())
                    } else if let Some(sas) = &s.sas_token {
                        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(
                            sas.expose().trim_start_matches('?').as_bytes(),
                        )
                        .into_owned()
                        .collect();
                        b.with_sas_authorization(pairs)
                    } else {
                        let part = |s: &Option<Secret>| {
                            s.as_ref()
                                .map(|s| s.expose().to_owned())
                                .unwrap_or_default()
                        };
                        b.with_client_secret_authorization(
                            part(&s.client_id),
                            part(&s.client_secret),
                            part(&s.tenant_id),
                        )
                    }
                }
                _ => b.with_skip_signature(true),
            };
            b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        Settings::Http(c) => {
            let mut connector = connector;
            if let Secrets::Http(s) = secrets {
                let mut headers = HeaderMap::new();
                if let Some(token) = &s.bearer_token {
                    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                        .map_err(|_| "bearerToken is not a valid header value".to_owned())?;
                    value.set_sensitive(true);
                    headers.insert(AUTHORIZATION, value);
                }
                for (name, value) in &s.headers {
                    let name = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| "invalid header name in credentials".to_owned())?;
                    let mut value = HeaderValue::from_str(value.expose())
                        .map_err(|_| "invalid header value in credentials".to_owned())?;
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                // Not default headers: those would follow redirects anywhere.
                let base =
                    Url::parse(&c.base_url).map_err(|_| "the base URL is not a URL".to_owned())?;
                connector = connector.with_credentials(&base, headers);
            }
            // object_store adds the path after a `/` of its own.
            HttpBuilder::new()
                .with_url(c.base_url.trim_end_matches('/'))
                .with_client_options(client_options(c.allow_http))
                .with_http_connector(connector)
                .with_retry(retry())
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        Settings::Local(c) => {
            LocalFileSystem::new_with_prefix(&c.root).map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
    };
    built.map_err(|e| e.to_string())
}

/// The store of an integration the server may still use: a LOCAL root must
/// still lie under one of the configured local storage roots.
pub fn open(svc: &Services, model: &integration::Model) -> AppResult<Arc<dyn ObjectStore>> {
    if let (_, Settings::Local(c)) = stored_settings(model)? {
        allowed_local_root(&c.root, &svc.storage.local_roots())?;
    }
    store(&svc.storage, model)
}

// ---- object URLs -------------------------------------------------------------

fn foreign(url: &str, why: impl std::fmt::Display) -> AppError {
    AppError::bad_input(format!(
        "{} does not belong to this integration: {why}",
        shown_url(url)
    ))
}

/// A URL as quoted in messages: without its query string (signatures).
fn shown_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let mut shown: String = url[..end].chars().take(300).collect();
    if end < url.len() {
        shown.push_str("?…");
    }
    format!("{shown:?}")
}

/// Maps an object URL to the path of the object in [`store`]'s client,
/// refusing URLs that are not the integration's: another bucket, container,
/// account or host, outside the prefix or base URL, or — LOCAL — outside the
/// root (`..`, symlinks).
///
/// Accepted: S3 `s3://bucket/key`, `https://bucket.s3.region.amazonaws.com/key`,
/// `https://s3.region.amazonaws.com/bucket/key`, `<endpoint>/bucket/key`; GCS
/// `gs://bucket/key`, `https://storage.googleapis.com/bucket/key`; AZURE
/// `az://container/key`, `https://account.blob.core.windows.net/container/key`,
/// `<endpoint>/container/key`; HTTP any URL under the base URL; LOCAL
/// `file:///abs/path`, an absolute path, or a path relative to the root.
pub fn object_path(model: &integration::Model, object_url: &str) -> AppResult<ObjectPath> {
    let (_, settings) = stored_settings(model)?;
    let url = object_url.trim();
    if url.is_empty() {
        return Err(AppError::bad_input("the object URL is empty"));
    }
    match &settings {
        Settings::S3(c) => {
            let (bucket, key) = s3_location(url, c)?;
            cloud_key(url, &bucket, &c.bucket, key, settings.prefix(), "bucket")
        }
        Settings::Gcs(c) => {
            let (bucket, key) = gcs_location(url)?;
            cloud_key(url, &bucket, &c.bucket, key, settings.prefix(), "bucket")
        }
        Settings::Azure(c) => {
            let (container, key) = azure_location(url, c)?;
            cloud_key(
                url,
                &container,
                &c.container,
                key,
                settings.prefix(),
                "container",
            )
        }
        Settings::Http(c) => http_path(url, &c.base_url),
        Settings::Local(c) => local_path(url, &c.root),
    }
}

/// `scheme://name/rest` split raw (keys are taken literally, as the cloud
/// tools do), or `None` for another scheme.
fn split_cloud_url<'a>(url: &'a str, schemes: &[&str]) -> Option<(&'a str, &'a str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// An https URL: (lower-cased host with port, decoded path without the
/// leading slash).
fn web_url(url: &str) -> AppResult<(String, String, Url)> {
    let parsed =
        Url::parse(url).map_err(|_| foreign(url, "it is not a URL this provider reads"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(foreign(url, "unsupported scheme"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(AppError::bad_input(format!(
            "{}: object URLs must not carry a query or fragment",
            shown_url(url)
        )));
    }
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => return Err(foreign(url, "no host")),
    };
    let path = percent_encoding::percent_decode_str(parsed.path().trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| foreign(url, "the path is not UTF-8"))?
        .into_owned();
    Ok((host, path, parsed))
}

fn endpoint_host(endpoint: &str) -> Option<(String, String)> {
    let url = Url::parse(endpoint).ok()?;
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    Some((host, url.path().trim_matches('/').to_owned()))
}

fn s3_location(url: &str, c: &S3Config) -> AppResult<(String, String)> {
    if let Some((bucket, key)) = split_cloud_url(url, &["s3", "s3a"]) {
        return Ok((bucket.to_owned(), key.to_owned()));
    }
    let (host, path, _) = web_url(url)?;
    let path_style = |path: &str| {
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        (bucket.to_owned(), key.to_owned())
    };
    if let Some(endpoint) = c.endpoint.as_deref().and_then(endpoint_host) {
        let (ep_host, ep_path) = endpoint;
        if host == ep_host {
            let rest = if ep_path.is_empty() {
                path.as_str()
            } else {
                path.strip_prefix(&format!("{ep_path}/"))
                    .ok_or_else(|| foreign(url, "not under the endpoint"))?
            };
            return Ok(path_style(rest));
        }
        if let Some(bucket) = host.strip_suffix(&format!(".{ep_host}")) {
            return Ok((bucket.to_owned(), path));
        }
        return Err(foreign(url, "another host than the integration's endpoint"));
    }
    let Some(aws) = host.strip_suffix(".amazonaws.com") else {
        return Err(foreign(url, "not an S3 URL"));
    };
    if aws == "s3" || aws.starts_with("s3.") || aws.starts_with("s3-") {
        return Ok(path_style(&path));
    }
    for marker in [".s3.", ".s3-"] {
        if let Some(i) = aws.find(marker) {
            return Ok((aws[..i].to_owned(), path));
        }
    }
    if let Some(bucket) = aws.strip_suffix(".s3") {
        return Ok((bucket.to_owned(), path));
    }
    Err(foreign(url, "not an S3 URL"))
}

fn gcs_location(url: &str) -> AppResult<(String, String)> {
    if let Some((bucket, key)) = split_cloud_url(url, &["gs"]) {
        return Ok((bucket.to_owned(), key.to_owned()));
    }
    let (host, path, _) = web_url(url)?;
    if host == "storage.googleapis.com" || host == "storage.cloud.google.com" {
        let (bucket, key) = path.split_once('/').unwrap_or((&path, ""));
        return Ok((bucket.to_owned(), key.to_owned()));
    }
    if let Some(bucket) = host.strip_suffix(".storage.googleapis.com") {
        return Ok((bucket.to_owned(), path));
    }
    Err(foreign(url, "not a GCS URL"))
}

fn azure_location(url: &str, c: &AzureConfig) -> AppResult<(String, String)> {
    if let Some((container, key)) = split_cloud_url(url, &["az", "azure"]) {
        return Ok((container.to_owned(), key.to_owned()));
    }
    let (host, path, _) = web_url(url)?;
    let rest = if let Some((ep_host, ep_path)) = c.endpoint.as_deref().and_then(endpoint_host) {
        if host != ep_host {
            return Err(foreign(url, "another host than the integration's endpoint"));
        }
        if ep_path.is_empty() {
            path.clone()
        } else {
            path.strip_prefix(&format!("{ep_path}/"))
                .ok_or_else(|| foreign(url, "not under the endpoint"))?
                .to_owned()
        }
    } else {
        let account = host
            .strip_suffix(".blob.core.windows.net")
            .or_else(|| host.strip_suffix(".dfs.core.windows.net"))
            .ok_or_else(|| foreign(url, "not an Azure Blob Storage URL"))?;
        if account != c.account {
            return Err(foreign(
                url,
                format!("another storage account than {}", c.account),
            ));
        }
        path.clone()
    };
    let (container, key) = rest.split_once('/').unwrap_or((&rest, ""));
    Ok((container.to_owned(), key.to_owned()))
}

/// The key of a cloud object, in the integration's bucket and prefix.
fn cloud_key(
    url: &str,
    bucket: &str,
    expected: &str,
    key: String,
    prefix: Option<&str>,
    noun: &str,
) -> AppResult<ObjectPath> {
    if bucket != expected {
        return Err(foreign(url, format!("another {noun} than {expected}")));
    }
    if key.is_empty() || key.ends_with('/') {
        return Err(AppError::bad_input(format!(
            "{} names no object (the key is empty or a folder)",
            shown_url(url)
        )));
    }
    let path = ObjectPath::parse(&key).map_err(|_| {
        AppError::bad_input(format!(
            "{}: the key has empty, '.' or '..' segments or control characters",
            shown_url(url)
        ))
    })?;
    if path.as_ref() != key {
        return Err(AppError::bad_input(format!(
            "{}: the key has empty segments",
            shown_url(url)
        )));
    }
    if let Some(prefix) = prefix {
        if !ObjectPath::parse(prefix).is_ok_and(|p| path.prefix_matches(&p)) {
            return Err(foreign(url, format!("outside the prefix {prefix}/")));
        }
    }
    Ok(path)
}

fn path_of_parts<'a>(url: &str, parts: impl IntoIterator<Item = &'a str>) -> AppResult<ObjectPath> {
    let mut out = Vec::new();
    for part in parts {
        if part.is_empty() {
            return Err(AppError::bad_input(format!(
                "{}: the path has empty segments",
                shown_url(url)
            )));
        }
        if part == "." || part == ".." {
            return Err(foreign(url, "the path climbs with '.' or '..'"));
        }
        out.push(PathPart::parse(part).map_err(|_| {
            AppError::bad_input(format!(
                "{}: the path has characters storage cannot address",
                shown_url(url)
            ))
        })?);
    }
    if out.is_empty() {
        return Err(AppError::bad_input(format!(
            "{} names no object",
            shown_url(url)
        )));
    }
    Ok(ObjectPath::from_iter(out))
}

fn http_path(url: &str, base_url: &str) -> AppResult<ObjectPath> {
    let base = Url::parse(base_url).map_err(AppError::internal)?;
    let parsed = Url::parse(url).map_err(|_| foreign(url, "it is not a URL"))?;
    if parsed.scheme() != base.scheme()
        || parsed.host_str() != base.host_str()
        || parsed.port_or_known_default() != base.port_or_known_default()
    {
        return Err(foreign(url, format!("not under {base_url}")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(AppError::bad_input(format!(
            "{}: object URLs must not carry a query or fragment",
            shown_url(url)
        )));
    }
    // Raw (still encoded) segments: an encoded '/' or '..' must not climb.
    let raw = parsed.path();
    let rest = raw
        .strip_prefix(base.path())
        .ok_or_else(|| foreign(url, format!("not under {base_url}")))?;
    let mut decoded = Vec::new();
    for segment in rest.split('/') {
        let d = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| foreign(url, "the path is not UTF-8"))?
            .into_owned();
        if d.contains('/') {
            return Err(foreign(url, "the path hides '/' in a segment"));
        }
        decoded.push(d);
    }
    path_of_parts(url, decoded.iter().map(String::as_str))
}

/// A LOCAL object: a path under the root, symlinks resolved (the object
/// need not exist yet; its deepest existing ancestor is resolved).
fn local_path(url: &str, root: &FsPath) -> AppResult<ObjectPath> {
    let escapes = || foreign(url, "outside the integration's root folder");
    let given: PathBuf = if url.starts_with("file:") {
        let parsed = Url::parse(url).map_err(|_| foreign(url, "not a file URL"))?;
        if parsed
            .host_str()
            .is_some_and(|h| !h.is_empty() && h != "localhost")
        {
            return Err(foreign(url, "a file URL on another host"));
        }
        parsed
            .to_file_path()
            .map_err(|_| foreign(url, "not a file path"))?
    } else if url.contains("://") {
        return Err(foreign(
            url,
            "LOCAL integrations read file:// URLs and paths",
        ));
    } else {
        PathBuf::from(url)
    };
    if given.components().any(|c| c == Component::ParentDir) {
        return Err(escapes());
    }
    let real_root = std::fs::canonicalize(root)
        .map_err(|_| AppError::bad_input("the integration's root folder no longer exists"))?;
    let absolute = if given.is_absolute() {
        let relative = given
            .strip_prefix(root)
            .or_else(|_| given.strip_prefix(&real_root))
            .map_err(|_| escapes())?;
        real_root.join(relative)
    } else {
        real_root.join(&given)
    };
    // Resolve symlinks: the deepest existing ancestor, canonicalized, plus
    // what does not exist yet.
    let mut existing = absolute.as_path();
    let mut missing = Vec::new();
    let resolved = loop {
        match std::fs::canonicalize(existing) {
            Ok(real) => break real,
            Err(_) => {
                missing.push(existing.file_name().ok_or_else(escapes)?.to_owned());
                existing = existing.parent().ok_or_else(escapes)?;
            }
        }
    };
    let mut full = resolved;
    for part in missing.into_iter().rev() {
        full.push(part);
    }
    let relative = full.strip_prefix(&real_root).map_err(|_| escapes())?;
    let mut parts = Vec::new();
    for c in relative.components() {
        match c {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| foreign(url, "the path is not UTF-8"))?
                    .to_owned(),
            ),
            _ => return Err(escapes()),
        }
    }
    path_of_parts(url, parts.iter().map(String::as_str))
}

// ---- the service ------------------------------------------------------------

/// The integration, if the caller may see it, with what they may do to it.
pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
) -> AppResult<(integration::Model, Access)> {
    let access = grants::visible_access(svc, caller, Kind::Integration, id, "integration").await?;
    let model = integration::Entity::find_by_id(id)
        .one(&svc.db)
        .await?
        .ok_or_else(|| AppError::not_found("integration"))?;
    Ok((model, access))
}

/// Like `get`, and FORBIDDEN unless the caller may do `action`.
pub async fn get_for(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> AppResult<(integration::Model, Access)> {
    let (model, access) = get(svc, caller, id).await?;
    if !access.can(&svc.policy, action) {
        return Err(match action {
            Action::Use => AppError::forbidden("use this integration"),
            Action::Edit => AppError::forbidden("edit this integration"),
            Action::Delete => AppError::forbidden("delete this integration"),
            other => AppError::forbidden(other.describe()),
        });
    }
    Ok((model, access))
}

/// Does the caller's workspace role let them manage every integration?
pub fn manages_all(svc: &Services, caller: &Caller) -> bool {
    svc.policy.allows(
        Kind::Workspace,
        &caller.workspace_role,
        Action::ManageIntegrations,
    )
}

/// Integrations the caller may see (workspace ADMINs: all), filtered in SQL.
pub async fn list(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    page: PageArgs,
) -> AppResult<Page<integration::Model>> {
    let mut query = integration::Entity::find();
    if !manages_all(svc, caller) {
        query = query.filter(integration::Column::Id.in_subquery(granted_ids(
            &svc.policy,
            Kind::Integration,
            Action::View,
            caller.id,
        )));
    }
    if let Some(term) = search_term(search) {
        query = query.filter(contains_ci(integration::Column::Title, term));
    }
    paginate(
        &svc.db,
        query,
        crate::sort_keys!(integration, Title, title),
        page,
    )
    .await
}

/// The integrations among `ids` that the caller may see, in one statement.
pub async fn visible_by_ids(
    svc: &Services,
    caller: &Caller,
    ids: &[Uuid],
) -> AppResult<Vec<integration::Model>> {
    let mut query =
        integration::Entity::find().filter(integration::Column::Id.is_in(ids.iter().copied()));
    if !manages_all(svc, caller) {
        query = query.filter(integration::Column::Id.in_subquery(granted_ids(
            &svc.policy,
            Kind::Integration,
            Action::View,
            caller.id,
        )));
    }
    Ok(query.all(&svc.db).await?)
}

/// A new integration; the caller becomes its ADMIN.
#[tracing::instrument(skip_all, fields(provider = provider.as_str()))]
pub async fn create(
    svc: &Services,
    caller: &Caller,
    title: &str,
    provider: Provider,
    config: &Value,
    credentials: Option<&Value>,
) -> AppResult<integration::Model> {
    require_workspace(svc, caller, Action::CreateResources)?;
    let title = required_text("title", title, TITLE_MAX)?;
    let local_roots = svc.storage.local_roots();
    let settings = validate_config(provider, config, &local_roots, &svc.storage.allowed_hosts())?;
    let credentials = credentials.filter(|c| !c.is_null());
    let secrets = match credentials {
        Some(c) => parse_credentials(provider, c)?,
        None => Secrets::None,
    };
    let stored = credentials.map(|c| Credentials(c.to_string()));
    check_buildable(svc, &settings, &secrets, stored.as_ref())?;
    let now = Utc::now();
    let txn = crate::service::tx::write(&svc.db).await?;
    let created = integration::ActiveModel {
        id: Set(Uuid::now_v7()),
        title: Set(title),
        provider: Set(provider.as_str().to_owned()),
        config: Set(settings.to_json()),
        credentials: Set(stored),
        created_by: Set(Some(caller.id)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    grants::insert(
        &txn,
        Kind::Integration,
        created.id,
        Grantee::User(caller.id),
        "ADMIN",
        caller.id,
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Builds the client once, so that settings the storage library refuses are
/// reported now rather than at the first import.
fn check_buildable(
    svc: &Services,
    settings: &Settings,
    secrets: &Secrets,
    stored: Option<&Credentials>,
) -> AppResult<()> {
    build_store(settings, secrets, svc.storage.allowed_hosts())
        .map(drop)
        .map_err(|message| {
            let mut secrets = Vec::new();
            if let Some(c) = stored {
                let probe = integration::Model {
                    id: Uuid::nil(),
                    title: String::new(),
                    provider: String::new(),
                    config: Value::Null,
                    credentials: Some(c.clone()),
                    created_by: None,
                    created_at: Utc::now(),
                    updated_at: Utc::now(),
                };
                secrets = secret_texts(&probe);
            }
            AppError::bad_input(format!(
                "these settings cannot be used: {}",
                scrub(&message, &secrets)
            ))
        })
}

/// What an update does to the credentials.
pub enum CredentialsChange {
    /// Leave them as they are.
    Keep,
    /// Remove them (anonymous access).
    Clear,
    /// Replace them entirely.
    Replace(Value),
}

/// Changes the title, settings or credentials (integration ADMIN). The
/// provider stays; new credentials replace the old ones entirely. Settings
/// that change where requests go (bucket, region, endpoint, account,
/// container, base URL) drop the stored credentials unless new ones come
/// with them: they were given for the old place, not for whoever answers at
/// the new one.
#[tracing::instrument(skip_all, fields(integration = %id))]
pub async fn update(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
    title: Option<&str>,
    config: Option<&Value>,
    credentials: CredentialsChange,
) -> AppResult<integration::Model> {
    let (existing, _) = get_for(svc, caller, id, Action::Edit).await?;
    let (provider, current) = stored_settings(&existing)?;
    let settings = match config {
        Some(config) => validate_config(
            provider,
            config,
            &svc.storage.local_roots(),
            &svc.storage.allowed_hosts(),
        )?,
        None => current.clone(),
    };
    let moved = settings.location() != current.location();
    let dropped =
        moved && existing.credentials.is_some() && matches!(credentials, CredentialsChange::Keep);
    let (stored, credentials_changed) = match credentials {
        CredentialsChange::Keep if dropped => (None, true),
        CredentialsChange::Keep => (existing.credentials.clone(), false),
        CredentialsChange::Clear => (None, existing.credentials.is_some()),
        CredentialsChange::Replace(value) if value.is_null() => {
            (None, existing.credentials.is_some())
        }
        CredentialsChange::Replace(value) => {
            parse_credentials(provider, &value)?;
            (Some(Credentials(value.to_string())), true)
        }
    };
    let secrets = match &stored {
        Some(text) => {
            let value: Value = serde_json::from_str(text.expose())
                .map_err(|_| AppError::internal("unreadable credentials"))?;
            parse_credentials(provider, &value)?
        }
        None => Secrets::None,
    };
    check_buildable(svc, &settings, &secrets, stored.as_ref())?;
    let mut changed = Vec::new();
    let mut active = existing.clone().into_active_model();
    if let Some(title) = title {
        let title = required_text("title", title, TITLE_MAX)?;
        if title != existing.title {
            changed.push("title");
        }
        active.title = Set(title);
    }
    let config_json = settings.to_json();
    if config_json != existing.config {
        changed.push("config");
    }
    active.config = Set(config_json);
    if credentials_changed {
        changed.push("credentials");
    }
    active.credentials = Set(stored);
    active.updated_at = Set(Utc::now());
    let txn = crate::service::tx::write(&svc.db).await?;
    let updated = active.update(&txn).await?;
    if changed.iter().any(|c| *c != "title") {
        // Which parts changed, never their values.
        let mut detail = json!({ "changed": changed });
        if dropped {
            detail["credentialsDropped"] = json!(true);
        }
        audit::record(
            &txn,
            caller.id,
            "integration.update",
            Kind::Integration,
            id,
            detail,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Deletes an integration (integration ADMIN): CONFLICT while files
/// registered through it still refer to it.
#[tracing::instrument(skip_all, fields(integration = %id))]
pub async fn delete(svc: &Services, caller: &Caller, id: Uuid) -> AppResult<Uuid> {
    let (existing, _) = get_for(svc, caller, id, Action::Delete).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    let files = file::Entity::find()
        .filter(file::Column::IntegrationId.eq(id))
        .count(&txn)
        .await?;
    if files > 0 {
        return Err(AppError::conflict(format!(
            "{files} file(s) were registered through this integration and still refer to it"
        )));
    }
    grants::delete_all(&txn, Kind::Integration, id).await?;
    integration::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        caller.id,
        "integration.delete",
        Kind::Integration,
        id,
        json!({ "title": existing.title, "provider": existing.provider }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// The outcome of a connection test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
}

/// Checks the integration can reach its storage (integration USER): reads
/// the head of `object_url` when given; otherwise lists a page of the prefix
/// (LOCAL: the root), or, for HTTP, asks for the base URL's headers.
/// Failures are reported in the result, in words without secrets.
#[tracing::instrument(skip_all, fields(integration = %id))]
pub async fn test_connection(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
    object_url: Option<&str>,
) -> AppResult<TestResult> {
    let (model, _) = get_for(svc, caller, id, Action::Use).await?;
    let path = object_url.map(|u| object_path(&model, u)).transpose()?;
    let store = match open(svc, &model) {
        Ok(store) => store,
        Err(AppError::Internal(detail)) => return Err(AppError::Internal(detail)),
        Err(e) => {
            return Ok(TestResult {
                ok: false,
                message: e.public_message(),
            })
        }
    };
    let (_, settings) = stored_settings(&model)?;
    let secrets = secret_texts(&model);
    let check = async {
        match (&path, &settings) {
            (Some(path), _) => store
                .head(path)
                .await
                .map(|meta| format!("connected: the object exists ({} bytes)", meta.size)),
            (None, Settings::Http(c)) => match store.head(&ObjectPath::default()).await {
                Ok(_) => Ok(format!("connected: {} answers", c.base_url)),
                // The server answered; a folder URL is often not an object.
                Err(object_store::Error::NotFound { .. }) => Ok(format!(
                    "connected: {} answers (the base URL itself is not an object; give an object URL to check one)",
                    c.base_url
                )),
                Err(e) => Err(e),
            },
            (None, settings) => {
                let prefix = settings.prefix_path();
                let mut listing = store.list(prefix.as_ref());
                match listing.next().await {
                    None => Ok("connected: nothing is stored under the prefix yet".to_owned()),
                    Some(Ok(_)) => Ok("connected: objects are listed".to_owned()),
                    Some(Err(e)) => Err(e),
                }
            }
        }
    };
    let result = match tokio::time::timeout(TEST_TIMEOUT, check).await {
        Ok(Ok(message)) => TestResult { ok: true, message },
        Ok(Err(error)) => {
            tracing::info!(error = %scrub(&error.to_string(), &secrets), "integration test failed");
            TestResult {
                ok: false,
                message: describe_storage_error(&error, &secrets),
            }
        }
        Err(_) => TestResult {
            ok: false,
            message: format!("no answer within {} seconds", TEST_TIMEOUT.as_secs()),
        },
    };
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(provider: &str, config: Value, credentials: Option<Value>) -> integration::Model {
        integration::Model {
            id: Uuid::now_v7(),
            title: "t".into(),
            provider: provider.into(),
            config,
            credentials: credentials.map(|c| Credentials(c.to_string())),
            created_by: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn path(m: &integration::Model, url: &str) -> String {
        object_path(m, url)
            .unwrap_or_else(|e| panic!("{url}: {}", e.public_message()))
            .to_string()
    }

    fn refused(m: &integration::Model, url: &str) -> String {
        match object_path(m, url) {
            Ok(p) => panic!("{url} was mapped to {p}"),
            Err(AppError::BadUserInput(message)) => message,
            Err(other) => panic!("{url}: {}", other.code()),
        }
    }

    #[test]
    fn s3_urls_map_to_keys_of_the_bucket_and_prefix() {
        let m = model(
            "S3",
            json!({"bucket": "farm", "region": "eu-west-1", "prefix": "animals"}),
            None,
        );
        assert_eq!(path(&m, "s3://farm/animals/cow.jpg"), "animals/cow.jpg");
        assert_eq!(
            path(&m, "s3://farm/animals/a b/c+d.jpg"),
            "animals/a b/c+d.jpg"
        );
        assert_eq!(
            path(
                &m,
                "https://farm.s3.eu-west-1.amazonaws.com/animals/cow%20x.jpg"
            ),
            "animals/cow x.jpg"
        );
        assert_eq!(
            path(
                &m,
                "https://s3.eu-west-1.amazonaws.com/farm/animals/cow.jpg"
            ),
            "animals/cow.jpg"
        );
        assert!(refused(&m, "s3://other/animals/cow.jpg").contains("another bucket"));
        assert!(refused(&m, "s3://farm/plants/rose.jpg").contains("outside the prefix"));
        assert!(refused(&m, "s3://farm/animalsX/cow.jpg").contains("outside the prefix"));
        refused(&m, "s3://farm/animals/../secret.txt");
        refused(&m, "s3://farm/animals//cow.jpg");
        refused(&m, "s3://farm/");
        refused(&m, "gs://farm/animals/cow.jpg");
        refused(&m, "https://example.com/farm/animals/cow.jpg");
        refused(
            &m,
            "https://farm.s3.amazonaws.com/animals/cow.jpg?X-Amz-Signature=abc",
        );

        let minio = model(
            "S3",
            json!({"bucket": "farm", "endpoint": "http://127.0.0.1:9000/", "allowHttp": true}),
            None,
        );
        assert_eq!(
            path(&minio, "http://127.0.0.1:9000/farm/a/b.jpg"),
            "a/b.jpg"
        );
        assert_eq!(path(&minio, "s3://farm/a/b.jpg"), "a/b.jpg");
        refused(&minio, "http://127.0.0.1:9001/farm/a/b.jpg");
        refused(&minio, "http://127.0.0.1:9000/other/a/b.jpg");
    }

    #[test]
    fn gcs_and_azure_urls_map_to_their_bucket_or_container() {
        let gcs = model("GCS", json!({"bucket": "farm"}), None);
        assert_eq!(path(&gcs, "gs://farm/x/y.mp4"), "x/y.mp4");
        assert_eq!(
            path(&gcs, "https://storage.googleapis.com/farm/x/y.mp4"),
            "x/y.mp4"
        );
        refused(&gcs, "gs://barn/x/y.mp4");
        refused(&gcs, "s3://farm/x/y.mp4");

        let az = model(
            "AZURE",
            json!({"account": "farmdata", "container": "videos"}),
            None,
        );
        assert_eq!(path(&az, "az://videos/2024/cow.mp4"), "2024/cow.mp4");
        assert_eq!(
            path(
                &az,
                "https://farmdata.blob.core.windows.net/videos/2024/cow.mp4"
            ),
            "2024/cow.mp4"
        );
        assert!(refused(
            &az,
            "https://otheraccount.blob.core.windows.net/videos/2024/cow.mp4"
        )
        .contains("another storage account"));
        assert!(refused(&az, "az://photos/cow.jpg").contains("another container"));
    }

    #[test]
    fn http_urls_map_under_the_base_url_only() {
        let m = model(
            "HTTP",
            json!({"baseUrl": "https://cdn.example.com/media/"}),
            None,
        );
        assert_eq!(
            path(&m, "https://cdn.example.com/media/clips/a%20b.mp4"),
            "clips/a b.mp4"
        );
        refused(&m, "https://cdn.example.com/other/a.mp4");
        refused(&m, "https://cdn.example.com/mediax/a.mp4");
        refused(&m, "https://evil.example.com/media/a.mp4");
        refused(&m, "http://cdn.example.com/media/a.mp4");
        refused(&m, "https://cdn.example.com:8443/media/a.mp4");
        refused(&m, "https://cdn.example.com/media/a%2F..%2F..%2Fetc");
        refused(&m, "https://cdn.example.com/media/%2e%2e/secret");
        refused(&m, "https://cdn.example.com/media/a.mp4?token=1");
        refused(&m, "https://cdn.example.com/media/");
        // The URL parser folds "/media/../x" into "/x", outside the base.
        refused(&m, "https://cdn.example.com/media/../x.mp4");
    }

    #[test]
    fn local_paths_stay_inside_the_root_even_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("sub/a b.txt"), "x").unwrap();
        std::fs::write(outside.join("secret.txt"), "s").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
            std::os::unix::fs::symlink(root.join("sub"), root.join("inner")).unwrap();
        }
        let root = std::fs::canonicalize(&root).unwrap();
        let m = model("LOCAL", json!({"root": root}), None);
        let file_url = Url::from_file_path(root.join("sub/a b.txt")).unwrap();
        assert_eq!(path(&m, file_url.as_str()), "sub/a b.txt");
        assert_eq!(
            path(&m, root.join("sub/a b.txt").to_str().unwrap()),
            "sub/a b.txt"
        );
        assert_eq!(path(&m, "sub/a b.txt"), "sub/a b.txt");
        assert_eq!(path(&m, "sub/not-yet.txt"), "sub/not-yet.txt");
        refused(&m, "../outside/secret.txt");
        refused(&m, "sub/../../outside/secret.txt");
        refused(&m, outside.join("secret.txt").to_str().unwrap());
        refused(
            &m,
            Url::from_file_path(outside.join("secret.txt"))
                .unwrap()
                .as_str(),
        );
        refused(&m, "s3://bucket/sub/a.txt");
        refused(&m, root.to_str().unwrap());
        #[cfg(unix)]
        {
            assert!(refused(&m, "escape/secret.txt").contains("outside"));
            assert!(refused(&m, "escape/new.txt").contains("outside"));
            assert_eq!(path(&m, "inner/a b.txt"), "sub/a b.txt");
        }
        // The store reads the mapped path.
        let local = object_store::local::LocalFileSystem::new_with_prefix(&root).unwrap();
        let mapped = object_path(&m, "sub/a b.txt").unwrap();
        assert_eq!(
            local.path_to_filesystem(&mapped).unwrap(),
            root.join("sub/a b.txt")
        );
    }

    #[test]
    fn settings_are_validated_with_clear_messages() {
        let none = AllowList::default();
        let bad = |provider: Provider, config: Value| match validate_config(
            provider,
            &config,
            &[],
            &none,
        ) {
            Err(AppError::BadUserInput(m)) => m,
            Ok(_) => panic!("{config} was accepted"),
            Err(e) => panic!("{}", e.code()),
        };
        assert!(bad(Provider::S3, json!({})).contains("bucket"));
        assert!(bad(Provider::S3, json!({"bucket": "a/b"})).contains("bucket"));
        assert!(
            bad(Provider::S3, json!({"bucket": "b", "secretAccessKey": "x"}))
                .contains("unknown field")
        );
        assert!(bad(
            Provider::S3,
            json!({"bucket": "b", "endpoint": "http://minio:9000"})
        )
        .contains("allowHttp"));
        assert!(bad(
            Provider::Http,
            json!({"baseUrl": "https://user:pw@example.com/"})
        )
        .contains("credentials"));
        assert!(bad(
            Provider::Http,
            json!({"baseUrl": "https://example.com/?sig=1"})
        )
        .contains("query"));
        assert!(bad(Provider::Http, json!({"baseUrl": "ftp://example.com/"})).contains("http"));
        assert!(bad(
            Provider::Azure,
            json!({"account": "Farm", "container": "c"})
        )
        .contains("account"));
        assert!(bad(Provider::Local, json!({"root": "/tmp"})).contains("--local-storage-root"));
        let dir = tempfile::tempdir().unwrap();
        let allowed = [dir.path().to_owned()];
        let other = tempfile::tempdir().unwrap();
        let local = |root: &FsPath| {
            validate_config(Provider::Local, &json!({ "root": root }), &allowed, &none)
        };
        assert!(local(dir.path()).is_ok());
        assert!(local(&dir.path().join("missing")).is_err());
        assert!(local(other.path()).is_err());
        assert!(local(FsPath::new("relative/path")).is_err());
        assert!(local(&dir.path().join("../x")).is_err());
        let http = validate_config(
            Provider::Http,
            &json!({"baseUrl": "http://127.0.0.1:8000/files", "allowHttp": true}),
            &[],
            &AllowList::loopback(),
        )
        .unwrap();
        assert_eq!(
            http.to_json(),
            json!({"baseUrl": "http://127.0.0.1:8000/files/", "allowHttp": true})
        );
        // Internal endpoints, however spelled, unless the operator allows them.
        for (provider, config) in [
            (
                Provider::Http,
                json!({"baseUrl": "http://2130706433:8000/", "allowHttp": true}),
            ),
            (
                Provider::S3,
                json!({"bucket": "b", "endpoint": "http://169.254.169.254/", "allowHttp": true}),
            ),
            (
                Provider::Azure,
                json!({"account": "a", "container": "c", "endpoint": "https://[::ffff:10.0.0.1]/"}),
            ),
        ] {
            assert!(bad(provider, config.clone()).contains("--storage-allowed-hosts"));
            let allowed =
                AllowList::parse(&["127.0.0.0/8", "169.254.0.0/16", "10.0.0.0/8"]).unwrap();
            assert!(validate_config(provider, &config, &[], &allowed).is_ok());
        }
    }

    #[test]
    fn credentials_are_bound_to_where_the_integration_points() {
        let settings = |provider, config: Value| {
            validate_config(provider, &config, &[], &AllowList::default()).unwrap()
        };
        let s3 = settings(Provider::S3, json!({"bucket": "farm"}));
        assert_eq!(
            s3.location(),
            settings(
                Provider::S3,
                json!({"bucket": "farm", "region": "us-east-1", "prefix": "x"})
            )
            .location()
        );
        for moved in [
            json!({"bucket": "barn"}),
            json!({"bucket": "farm", "region": "eu-west-1"}),
            json!({"bucket": "farm", "endpoint": "https://s3.example.com"}),
        ] {
            assert_ne!(s3.location(), settings(Provider::S3, moved).location());
        }
        assert_ne!(
            settings(Provider::Gcs, json!({"bucket": "a"})).location(),
            settings(Provider::Gcs, json!({"bucket": "b"})).location()
        );
        let azure = settings(Provider::Azure, json!({"account": "a", "container": "c"}));
        for moved in [
            json!({"account": "b", "container": "c"}),
            json!({"account": "a", "container": "d"}),
            json!({"account": "a", "container": "c", "endpoint": "https://blob.example.com"}),
        ] {
            assert_ne!(
                azure.location(),
                settings(Provider::Azure, moved).location()
            );
        }
    }

    #[test]
    fn credential_errors_never_quote_what_was_sent() {
        let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
        for (provider, credentials) in [
            (
                Provider::S3,
                json!({ "accessKeyId": "AKIA", "secret": secret }),
            ),
            (Provider::S3, json!({ "accessKeyId": secret })),
            (Provider::S3, json!({ secret: secret })),
            (Provider::Gcs, json!({ "serviceAccountKey": secret })),
            (
                Provider::Azure,
                json!({ "accessKey": secret, "sasToken": secret }),
            ),
            (Provider::Http, json!({ "headers": { "X-Key": [secret] } })),
            (Provider::Local, json!({ "password": secret })),
            (Provider::S3, json!(secret)),
        ] {
            match parse_credentials(provider, &credentials) {
                Err(e) => assert!(
                    !e.public_message().contains(secret) && !e.public_message().contains("wJal"),
                    "{}",
                    e.public_message()
                ),
                Ok(_) => panic!("{credentials} accepted"),
            }
        }
    }

    #[test]
    fn messages_are_scrubbed_of_secrets_and_query_strings() {
        let secrets = vec!["s3cr3t/+=value".to_owned()];
        let text = "Error performing GET https://acct.blob.core.windows.net/c/x?sig=abc%2Bdef&sv=1 in 3ms: token s3cr3t/+=value or s3cr3t%2F%2B%3Dvalue; Credential=AKIA/x, Signature=55908ca302aca5412ca5\naccept";
        let scrubbed = scrub(text, &secrets);
        assert!(!scrubbed.contains("s3cr3t"), "{scrubbed}");
        assert!(!scrubbed.contains("abc%2Bdef"), "{scrubbed}");
        assert!(!scrubbed.contains("55908ca3"), "{scrubbed}");
        assert!(scrubbed.contains("Signature=***\naccept"), "{scrubbed}");
        assert!(scrub(&"x".repeat(5000), &[]).chars().count() <= MESSAGE_MAX + 1);
        assert!(scrubbed.contains("https://acct.blob.core.windows.net/c/x?…"));
    }

    #[test]
    fn response_bodies_are_not_shown_back() {
        let text = "Generic S3 error: Error performing GET http://10.0.0.1/b in 2ms - Server returned non-2xx status code: 403 Forbidden: <?xml?><Error><Code>AccessDenied</Code><Message>internal data</Message></Error>";
        assert_eq!(
            without_bodies(text),
            "Generic S3 error: Error performing GET http://10.0.0.1/b in 2ms - Server returned non-2xx status code: 403 Forbidden (AccessDenied)"
        );
        assert!(
            !without_bodies("x - Server returned error response: secret page").contains("secret")
        );
        assert_eq!(without_bodies("plain"), "plain");
    }

    #[test]
    fn models_print_no_credentials() {
        let m = model(
            "S3",
            json!({"bucket": "farm"}),
            Some(json!({"accessKeyId": "AKIA1234", "secretAccessKey": "very-secret-value"})),
        );
        let printed = format!("{m:?} {:?}", m.clone().into_active_model());
        assert!(!printed.contains("very-secret-value"), "{printed}");
        let s3: S3Credentials = serde_json::from_value(
            json!({"accessKeyId": "AKIA1234", "secretAccessKey": "very-secret-value"}),
        )
        .unwrap();
        assert!(!format!("{:?}", s3.secret_access_key).contains("very"));
    }
}
