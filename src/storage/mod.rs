//! How the server reaches users' storage, below the services: an
//! integration's settings and credentials (`settings`, `credentials`), the
//! client built from them (`open`), which network addresses it may connect
//! to (`allow_list`, `connector`), object URLs and their paths (`location`),
//! ranged reads (`object`, `ranges`) and error messages without secrets
//! (`redact`). Services decide who may use an integration; this module only
//! knows how.

pub mod allow_list;
pub mod connector;
pub mod credentials;
pub mod location;
pub mod object;
pub mod ranges;
pub mod redact;
pub mod settings;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use entity::integration;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use url::Url;

use crate::config::Secret;
use crate::error::{AppError, AppResult};
use crate::storage::allow_list::AllowList;
use crate::storage::connector::GuardedConnector;
use crate::storage::credentials::{secret_texts, stored_secrets, Secrets};
use crate::storage::redact::scrub;
use crate::storage::settings::{allowed_local_root, stored_settings, Settings};

pub use crate::storage::location::object_path;
pub use crate::storage::settings::Provider;

/// Storage settings of the instance.
#[derive(Clone, Default)]
pub struct StorageSettings {
    pub(crate) local_roots: Arc<RwLock<Arc<[PathBuf]>>>,
    pub(crate) allowed_hosts: Arc<RwLock<Arc<AllowList>>>,
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

pub(crate) fn client_options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(120))
}

pub(crate) fn retry() -> RetryConfig {
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
            scrub(&message, &secret_texts(model.credentials.as_ref()))
        ))
    })
}

pub(crate) fn build_store(
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
pub fn open(
    storage: &StorageSettings,
    model: &integration::Model,
) -> AppResult<Arc<dyn ObjectStore>> {
    if let (_, Settings::Local(c)) = stored_settings(model)? {
        allowed_local_root(&c.root, &storage.local_roots())?;
    }
    store(storage, model)
}
