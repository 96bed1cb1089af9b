//! The rules every manifest entry follows, whatever its format: URL limits
//! and syntax, titles, and the kind an object URL's extension suggests.

use crate::service::files::{title_from_url, validate_object_url};
use crate::service::input::TITLE_MAX;

use entity::enums::FileKind;

use super::ManifestLimits;

/// Checks the URL in `field` against the limit and the URL rules.
pub(super) fn check_url(limits: &ManifestLimits, field: &str, url: &str) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err(format!("{field} is missing"));
    }
    if url.len() > limits.max_url_len {
        return Err(format!(
            "{field} is {} bytes long, over the limit of {} bytes (max_url_len)",
            url.len(),
            limits.max_url_len
        ));
    }
    validate_object_url(url).map_err(|e| {
        let message = e.public_message();
        match message.strip_prefix("objectUrl") {
            Some(rest) if field != "objectUrl" => format!("{field}{rest}"),
            _ => message,
        }
    })
}

/// The given title (trimmed, not blank), or the path of the first URL.
pub(super) fn title_for(given: Option<&str>, first_url: &str) -> Result<String, String> {
    match given {
        Some(title) if title.chars().count() > TITLE_MAX => {
            Err(format!("title must be at most {TITLE_MAX} characters"))
        }
        Some(title) => Ok(title.to_owned()),
        None => Ok(title_from_url(first_url)),
    }
}

/// The kind an object URL's extension suggests (of the last path segment,
/// before any query or fragment).
pub(super) fn kind_from_extension(url: &str) -> Option<FileKind> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (_, path) = rest.split_once('/')?;
    let name = path.rsplit('/').next()?;
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "bmp" | "tif" | "tiff" => FileKind::Image,
        "mp4" | "mov" | "webm" | "mkv" | "avi" => FileKind::Video,
        "mp3" | "wav" | "flac" | "ogg" | "m4a" => FileKind::Audio,
        "txt" | "md" | "json" => FileKind::Text,
        "pdf" => FileKind::Pdf,
        "dcm" => FileKind::DicomSeries,
        _ => return None,
    })
}
