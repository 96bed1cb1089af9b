//! The HTTP client of every integration's store (S3, GCS, Azure, HTTP),
//! plugged into `object_store` as its [`HttpConnector`].
//!
//! Written here rather than configured because `object_store`'s own client
//! cannot do three things the server needs:
//! - check the address actually connected to: a DNS resolver that drops
//!   internal addresses (see `allow_list`), and a check of every URL whose
//!   host is an address, since names are resolved but addresses are not;
//! - check every redirect the same way: redirects are followed here, hop
//!   by hop, instead of inside reqwest;
//! - keep credentials on their origin: an HTTP integration's bearer token
//!   and custom headers are added only to requests to its base URL's
//!   origin, and once a redirect leaves the first request's origin no
//!   credential or signature header goes along (reqwest keeps default
//!   headers on redirects and strips only a few);
//! - read a range from a server that ignores `Range` and answers with the
//!   whole object, without downloading the rest (see `ranges`).
//!
//! Proxies from the environment are not used: through a proxy the address
//! connected to would be the proxy's, and the check would be void.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{AUTHORIZATION, COOKIE, LOCATION, PROXY_AUTHORIZATION};
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody,
    HttpResponse, HttpService,
};
use object_store::ClientOptions;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::storage::allow_list::{AllowList, HostVerdict, REFUSED};
use crate::storage::ranges::partial_from_whole;

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// A connection refused because of where it would go.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{REFUSED}")]
    Internal,
    #[error("a redirect to {0} was refused: plain http is not allowed for this integration")]
    PlainHttp(String),
    #[error("a redirect to an address that is not an http(s) URL was refused")]
    Scheme,
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
}

/// Builds the clients of one integration's store.
#[derive(Debug, Clone)]
pub struct GuardedConnector {
    allow: Arc<AllowList>,
    allow_http: bool,
    /// Headers added to requests to `credential_origin` only.
    credentials: HeaderMap,
    credential_origin: Option<url::Origin>,
}

impl GuardedConnector {
    pub fn new(allow: Arc<AllowList>, allow_http: bool) -> GuardedConnector {
        GuardedConnector {
            allow,
            allow_http,
            credentials: HeaderMap::new(),
            credential_origin: None,
        }
    }

    /// Adds `headers` to every request to the origin of `base`, and to no
    /// other.
    pub fn with_credentials(mut self, base: &Url, headers: HeaderMap) -> GuardedConnector {
        self.credential_origin = Some(base.origin());
        self.credentials = headers;
        self
    }

    fn client(&self, resolver: Option<GuardedResolver>) -> reqwest::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("annograph/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            // Sizes come from Content-Length, which compression would change.
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .https_only(!self.allow_http);
        if let Some(resolver) = resolver {
            builder = builder.dns_resolver(Arc::new(resolver));
        }
        builder.build()
    }
}

impl HttpConnector for GuardedConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let build = || -> reqwest::Result<GuardedService> {
            Ok(GuardedService {
                connector: self.clone(),
                guarded: self.client(Some(GuardedResolver {
                    allow: self.allow.clone(),
                }))?,
                trusted: self.client(None)?,
            })
        };
        let service = build().map_err(|e| object_store::Error::Generic {
            store: "HTTP",
            source: Box::new(e),
        })?;
        Ok(HttpClient::new(service))
    }
}

/// Resolves names and keeps only the addresses the allow-list permits:
/// these are the addresses connected to.
#[derive(Debug, Clone)]
struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| allow.permits_resolved(a.ip()))
                .collect();
            if permitted.is_empty() && !resolved.is_empty() {
                return Err(Box::new(Refused::Internal) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

#[derive(Debug)]
struct GuardedService {
    connector: GuardedConnector,
    /// Resolves through [`GuardedResolver`].
    guarded: reqwest::Client,
    /// For names the operator trusts.
    trusted: reqwest::Client,
}

fn refused(reason: Refused) -> HttpError {
    // Not a connection error: object_store must not retry it.
    HttpError::new(HttpErrorKind::Unknown, reason)
}

/// Was the request refused by the resolver, deep inside reqwest's error?
fn refused_by_resolver(error: &HttpError) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<Refused>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Headers that carry credentials or request signatures.
fn is_sensitive(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("x-amz-") || name.starts_with("x-ms-") || name.starts_with("x-goog-")
}

impl GuardedService {
    fn client_for(&self, url: &Url) -> Result<&reqwest::Client, HttpError> {
        match self.connector.allow.verdict(url) {
            HostVerdict::Allowed | HostVerdict::Resolve => Ok(&self.guarded),
            HostVerdict::TrustedName => Ok(&self.trusted),
            HostVerdict::Refused => Err(refused(Refused::Internal)),
        }
    }
}

#[async_trait::async_trait]
impl HttpService for GuardedService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let mut url = Url::parse(&parts.uri.to_string())
            .map_err(|e| HttpError::new(HttpErrorKind::Unknown, e))?;
        let first_origin = url.origin();
        let mut method = parts.method;
        let mut headers = parts.headers;
        let mut body = body;
        let mut on_first_origin = true;
        for _ in 0..=MAX_REDIRECTS {
            let client = self.client_for(&url)?;
            let mut hop_headers = headers.clone();
            if on_first_origin && self.connector.credential_origin.as_ref() == Some(&url.origin()) {
                for (name, value) in &self.connector.credentials {
                    hop_headers.insert(name.clone(), value.clone());
                }
            }
            let uri: Uri = url
                .as_str()
                .parse()
                .map_err(|e| HttpError::new(HttpErrorKind::Unknown, e))?;
            let mut hop = Request::new(body.clone());
            *hop.method_mut() = method.clone();
            *hop.uri_mut() = uri;
            *hop.headers_mut() = hop_headers;
            let response = match HttpService::call(client, hop).await {
                Ok(response) => response,
                Err(e) if refused_by_resolver(&e) => return Err(refused(Refused::Internal)),
                Err(e) => return Err(e),
            };
            let status = response.status();
            let follows = matches!(
                status,
                StatusCode::MOVED_PERMANENTLY
                    | StatusCode::FOUND
                    | StatusCode::SEE_OTHER
                    | StatusCode::TEMPORARY_REDIRECT
                    | StatusCode::PERMANENT_REDIRECT
            ) && (method == Method::GET || method == Method::HEAD);
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            let (true, Some(next)) = (follows, location) else {
                return Ok(partial_from_whole(&method, &headers, response));
            };
            match next.scheme() {
                "https" => {}
                "http" if self.connector.allow_http => {}
                "http" => {
                    return Err(refused(Refused::PlainHttp(
                        next.origin().ascii_serialization(),
                    )))
                }
                _ => return Err(refused(Refused::Scheme)),
            }
            if next.origin() != first_origin {
                on_first_origin = false;
                headers.remove(AUTHORIZATION);
                headers.remove(PROXY_AUTHORIZATION);
                headers.remove(COOKIE);
                let signed: Vec<_> = headers
                    .keys()
                    .filter(|n| is_sensitive(n.as_str()))
                    .cloned()
                    .collect();
                for name in signed {
                    headers.remove(name);
                }
            }
            if status == StatusCode::SEE_OTHER {
                method = Method::GET;
            }
            body = HttpRequestBody::empty();
            url = next;
        }
        Err(refused(Refused::TooManyRedirects))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused_at_resolution() {
        let none = GuardedResolver {
            allow: Arc::new(AllowList::default()),
        };
        let name: Name = "localhost".parse().unwrap();
        let error = match none.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert_eq!(error.to_string(), REFUSED);
        let loopback = GuardedResolver {
            allow: Arc::new(AllowList::loopback()),
        };
        let addrs: Vec<_> = loopback
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
