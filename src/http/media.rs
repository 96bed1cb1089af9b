//! Content negotiation for `/graphql`: which media type a response is
//! written in (`Accept`), and whether a POST body is JSON (`Content-Type`).
//!
//! Both media types of the GraphQL-over-HTTP specification are produced:
//! `application/graphql-response+json`, where status codes tell request
//! errors apart, and the legacy `application/json`, where every GraphQL
//! response is a 200. The choice follows RFC 9110's rules on q-values and
//! wildcards rather than a substring test, because clients send weighted
//! lists (`application/graphql-response+json, application/json;q=0.9`) and
//! expect the ranking honoured; a range that asks for a charset other than
//! utf-8 matches nothing. Nothing acceptable is a 406 (the caller answers it in
//! `application/json`, the one type every client reads).
//!
//! Kept apart from the handler so that the rules can be read, and tested, as
//! one table (see the tests below).

use std::cmp::Reverse;

use axum::http::{header, HeaderMap, HeaderValue};

/// A media type `/graphql` can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphQLResponseJson,
    /// `application/json`: the legacy format, 200 for every GraphQL response
    /// (request errors included).
    Json,
}

impl MediaType {
    /// The subtype under `application/`.
    fn subtype(self) -> &'static str {
        match self {
            MediaType::GraphQLResponseJson => "graphql-response+json",
            MediaType::Json => "json",
        }
    }

    /// The `Content-Type` of a response in this media type.
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphQLResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// Picks the response media type for an `Accept` header value (all `Accept`
/// headers joined with commas). `None` means nothing acceptable (406).
///
/// Each media type takes the quality of the most specific range that matches
/// it; the higher quality wins, then the more specific match, then the range
/// listed first; a tie on the same wildcard goes to `application/json`.
pub fn negotiate(accept: Option<&str>) -> Option<MediaType> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Some(MediaType::Json);
    };
    let ranges: Vec<MediaRange> = accept.split(',').filter_map(MediaRange::parse).collect();
    // (quality, specificity, earliest range, application/json on a tie)
    type Rank = (u16, u8, Reverse<usize>, bool);
    let mut best: Option<(Rank, MediaType)> = None;
    for media in [MediaType::GraphQLResponseJson, MediaType::Json] {
        let Some((specificity, Reverse(index), q)) = ranges
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.specificity(media).map(|s| (s, Reverse(i), r.q)))
            .max_by_key(|(s, i, _)| (*s, *i))
        else {
            continue;
        };
        if q == 0 {
            continue;
        }
        let key = (q, specificity, Reverse(index), media == MediaType::Json);
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, media));
        }
    }
    best.map(|(_, media)| media)
}

/// One range of an `Accept` header.
struct MediaRange {
    ty: String,
    subtype: String,
    /// Quality in thousandths.
    q: u16,
    /// False when the range asks for a charset other than utf-8.
    utf8: bool,
}

impl MediaRange {
    /// A range, or `None` for one that cannot be read (it is ignored).
    fn parse(raw: &str) -> Option<MediaRange> {
        let mut parts = raw.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let (ty, subtype) = essence.split_once('/')?;
        let (ty, subtype) = (ty.trim(), subtype.trim());
        if ty.is_empty() || subtype.is_empty() || (ty == "*" && subtype != "*") {
            return None;
        }
        let mut range = MediaRange {
            ty: ty.to_owned(),
            subtype: subtype.to_owned(),
            q: 1000,
            utf8: true,
        };
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => range.q = parse_quality(value)?,
                "charset" => range.utf8 = is_utf8(value),
                _ => {}
            }
        }
        Some(range)
    }

    /// How specifically this range names `media` (2 exactly, 1 `application/*`,
    /// 0 `*/*`), or `None` when it does not match.
    fn specificity(&self, media: MediaType) -> Option<u8> {
        if !self.utf8 {
            return None;
        }
        match (self.ty.as_str(), self.subtype.as_str()) {
            ("*", "*") => Some(0),
            ("application", "*") => Some(1),
            ("application", subtype) if subtype == media.subtype() => Some(2),
            _ => None,
        }
    }
}

/// `q` in thousandths: `0` to `1` with at most three decimals.
fn parse_quality(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = match int {
        "0" => format!("{frac:0<3}").parse::<u16>().ok()?,
        "1" if frac.bytes().all(|b| b == b'0') => 1000,
        _ => return None,
    };
    Some(thousandths)
}

fn is_utf8(charset: &str) -> bool {
    charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
}

/// The negotiated media type of a request; `None` means 406.
pub fn response_media_type(headers: &HeaderMap) -> Option<MediaType> {
    let mut values = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        values.push(value.to_str().ok()?);
    }
    if values.is_empty() {
        return negotiate(None);
    }
    negotiate(Some(&values.join(",")))
}

/// `application/json`, with no charset or utf-8.
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|param| match param.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                is_utf8(value.trim().trim_matches('"'))
            }
            _ => true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_media_types() {
        use MediaType::*;
        let cases: &[(Option<&str>, Option<MediaType>)] = &[
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/*"), Some(Json)),
            (Some("application/json"), Some(Json)),
            (
                Some("application/graphql-response+json"),
                Some(GraphQLResponseJson),
            ),
            (
                Some("application/graphql-response+json, application/json;q=0.9"),
                Some(GraphQLResponseJson),
            ),
            (
                Some("application/json, application/graphql-response+json;q=0.9"),
                Some(Json),
            ),
            (
                Some("application/graphql-response+json;q=0.5, */*;q=0.8"),
                Some(Json),
            ),
            (
                Some("application/graphql-response+json, */*"),
                Some(GraphQLResponseJson),
            ),
            (Some("application/json;q=0, */*"), Some(GraphQLResponseJson)),
            (Some("text/html"), None),
            (Some("application/xml, text/plain;q=0.5"), None),
            (Some("application/json;q=0"), None),
            (Some("application/json; charset=latin1"), None),
            (Some("application/json; charset=UTF-8"), Some(Json)),
            (Some("application/json;q=2"), None),
            (Some("text/html, application/json;q=0.9"), Some(Json)),
        ];
        for (accept, expected) in cases {
            assert_eq!(negotiate(*accept), *expected, "Accept: {accept:?}");
        }
    }

    #[test]
    fn reads_qualities() {
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("0.125"), Some(125));
        assert_eq!(parse_quality("0"), Some(0));
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("0.1234"), None);
        assert_eq!(parse_quality("x"), None);
    }

    #[test]
    fn checks_content_types() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json_content_type(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=UTF-8"));
        assert!(with("application/json;charset=\"utf-8\""));
        assert!(!with("application/json; charset=iso-8859-1"));
        assert!(!with("text/plain;charset=UTF-8"));
        assert!(!with("application/graphql"));
        assert!(!is_json_content_type(&HeaderMap::new()));
    }
}
