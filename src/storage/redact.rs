//! Storage errors in words a user can act on: no secrets, no signatures, no
//! query strings and no response bodies, since an endpoint is any URL a member
//! typed in and what it answers is not shown back.

use crate::storage::connector::Refused;

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
pub(crate) fn without_bodies(text: &str) -> String {
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
pub(crate) const MESSAGE_MAX: usize = 600;

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

pub(crate) fn percent_encode_all(text: &str) -> String {
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
