//! The non-secret settings of an integration, per provider: what each
//! provider takes, how it is validated on write, and how stored settings are
//! read back. Where requests go (bucket, endpoint, base URL…) is part of the
//! settings, so changes to it can be told apart from cosmetic ones.
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

use std::path::{Component, Path as FsPath, PathBuf};

use entity::integration;
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

use crate::error::{AppError, AppResult};
use crate::storage::allow_list::{AllowList, HostVerdict, REFUSED};

/// Where an integration's objects live; its stored spelling is the entity's.
pub use entity::enums::StorageProvider as Provider;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct S3Config {
    pub(crate) bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prefix: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) allow_http: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) virtual_hosted_style: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GcsConfig {
    pub(crate) bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AzureConfig {
    pub(crate) account: String,
    pub(crate) container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prefix: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) allow_http: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HttpConfig {
    pub(crate) base_url: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) allow_http: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LocalConfig {
    pub(crate) root: PathBuf,
}

/// The non-secret settings of one integration, validated.
#[derive(Debug, Clone)]
pub(crate) enum Settings {
    S3(S3Config),
    Gcs(GcsConfig),
    Azure(AzureConfig),
    Http(HttpConfig),
    Local(LocalConfig),
}

impl Settings {
    /// The settings as stored (and returned): normalized, defaults left out.
    pub(crate) fn to_json(&self) -> Value {
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
    pub(crate) fn prefix(&self) -> Option<&str> {
        match self {
            Settings::S3(c) => c.prefix.as_deref(),
            Settings::Gcs(c) => c.prefix.as_deref(),
            Settings::Azure(c) => c.prefix.as_deref(),
            Settings::Http(_) | Settings::Local(_) => None,
        }
    }

    /// The prefix as a store path (validated on write).
    pub(crate) fn prefix_path(&self) -> Option<ObjectPath> {
        self.prefix().and_then(|p| ObjectPath::parse(p).ok())
    }

    /// The URL the store connects to, when the integration chose it.
    pub(crate) fn endpoint_url(&self) -> Option<Url> {
        let text = match self {
            Settings::S3(c) => c.endpoint.as_deref(),
            Settings::Azure(c) => c.endpoint.as_deref(),
            Settings::Http(c) => Some(c.base_url.as_str()),
            Settings::Gcs(_) | Settings::Local(_) => None,
        };
        text.and_then(|t| Url::parse(t).ok())
    }

    pub(crate) fn endpoint_field(&self) -> &'static str {
        match self {
            Settings::Http(_) => "baseUrl",
            _ => "endpoint",
        }
    }

    pub(crate) fn allow_http(&self) -> bool {
        match self {
            Settings::S3(c) => c.allow_http,
            Settings::Azure(c) => c.allow_http,
            Settings::Http(c) => c.allow_http,
            Settings::Gcs(_) | Settings::Local(_) => false,
        }
    }

    /// Where the stored credentials are sent: the bucket, container,
    /// account, endpoint, region or base URL. Changing it drops them.
    pub(crate) fn location(&self) -> Value {
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

pub(crate) const CONFIG_KEYS_S3: &str =
    "bucket, region, endpoint, prefix, allowHttp and virtualHostedStyle (bucket required)";
pub(crate) const CONFIG_KEYS_GCS: &str = "bucket and prefix (bucket required)";
pub(crate) const CONFIG_KEYS_AZURE: &str =
    "account, container, endpoint, prefix and allowHttp (account and container required)";
pub(crate) const CONFIG_KEYS_HTTP: &str = "baseUrl and allowHttp (baseUrl required)";
pub(crate) const CONFIG_KEYS_LOCAL: &str = "root (required)";

pub(crate) fn parse_config<T: serde::de::DeserializeOwned>(
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
pub(crate) fn validate_config(
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

pub(crate) fn parse_settings(
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
pub(crate) fn stored_settings(model: &integration::Model) -> AppResult<(Provider, Settings)> {
    let provider = model.provider;
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

pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A bucket or container name: one path segment.
pub(crate) fn bucket_name(field: &str, name: &str) -> AppResult<String> {
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
pub(crate) fn endpoint(
    field: &str,
    value: Option<String>,
    allow_http: bool,
) -> AppResult<Option<String>> {
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
pub(crate) fn key_prefix(prefix: Option<String>) -> AppResult<Option<String>> {
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
pub(crate) fn allowed_local_root(root: &FsPath, local_roots: &[PathBuf]) -> AppResult<PathBuf> {
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
