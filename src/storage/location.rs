//! Object URLs ↔ paths in an integration's store. Ownership is checked here:
//! a URL of another bucket, container, account or host, outside the prefix or
//! base URL, or — LOCAL — outside the root, is refused before any request.

use std::path::{Component, Path as FsPath, PathBuf};

use entity::integration;
use object_store::path::{Path as ObjectPath, PathPart};
use url::Url;

use crate::error::{AppError, AppResult};
use crate::storage::settings::{stored_settings, AzureConfig, S3Config, Settings};

pub(crate) fn foreign(url: &str, why: impl std::fmt::Display) -> AppError {
    AppError::bad_input(format!(
        "{} does not belong to this integration: {why}",
        shown_url(url)
    ))
}

/// A URL as quoted in messages: without its query string (signatures).
pub(crate) fn shown_url(url: &str) -> String {
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
pub(crate) fn split_cloud_url<'a>(url: &'a str, schemes: &[&str]) -> Option<(&'a str, &'a str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// An https URL: (lower-cased host with port, decoded path without the
/// leading slash).
pub(crate) fn web_url(url: &str) -> AppResult<(String, String, Url)> {
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

pub(crate) fn endpoint_host(endpoint: &str) -> Option<(String, String)> {
    let url = Url::parse(endpoint).ok()?;
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    Some((host, url.path().trim_matches('/').to_owned()))
}

pub(crate) fn s3_location(url: &str, c: &S3Config) -> AppResult<(String, String)> {
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

pub(crate) fn gcs_location(url: &str) -> AppResult<(String, String)> {
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

pub(crate) fn azure_location(url: &str, c: &AzureConfig) -> AppResult<(String, String)> {
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
pub(crate) fn cloud_key(
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

pub(crate) fn path_of_parts<'a>(
    url: &str,
    parts: impl IntoIterator<Item = &'a str>,
) -> AppResult<ObjectPath> {
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

pub(crate) fn http_path(url: &str, base_url: &str) -> AppResult<ObjectPath> {
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
pub(crate) fn local_path(url: &str, root: &FsPath) -> AppResult<ObjectPath> {
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
