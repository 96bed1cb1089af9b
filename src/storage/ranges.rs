//! Ranged reads from servers that ignore `Range`.
//!
//! A server may answer a ranged GET with 200 and the whole object (HTTP
//! allows it; Python's http.server and many static hosts always do).
//! `object_store` then refuses the answer ("Range request not supported"),
//! and every object of such a store would be unreachable. The connector
//! turns that answer into the 206 the server could have sent: the same
//! headers with a `Content-Range` computed from `Content-Length`, and a body
//! that skips the bytes before the range, passes on the range, and drops
//! the rest of the stream (and so the connection) as soon as the range is
//! read. A probe of a large object never downloads it whole.
//!
//! Done in the connector rather than in the probe because every ranged read
//! goes through it, whatever the store and whoever reads, and because
//! `object_store` then checks the result as it checks any 206.
//!
//! Left as they are (and refused by `object_store`): answers without a
//! `Content-Length` (the object's size is unknown), compressed answers
//! (their bytes are not the object's), answers to requests with `If-Range`
//! (a 200 there means the object changed), ranges the object does not hold
//! and lists of ranges.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, IF_RANGE, RANGE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use object_store::client::{HttpError, HttpErrorKind, HttpResponse, HttpResponseBody};

/// The answer to a request with `method` and `request_headers`; a 200 to a
/// ranged GET becomes the 206 of its range when it can be (see the module).
pub fn partial_from_whole(
    method: &Method,
    request_headers: &HeaderMap,
    response: HttpResponse,
) -> HttpResponse {
    if method != Method::GET
        || response.status() != StatusCode::OK
        || request_headers.contains_key(IF_RANGE)
    {
        return response;
    }
    let Some(range) = request_headers.get(RANGE).and_then(|r| r.to_str().ok()) else {
        return response;
    };
    let identity = response
        .headers()
        .get(CONTENT_ENCODING)
        .is_none_or(|e| e.as_bytes().eq_ignore_ascii_case(b"identity"));
    let total = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.trim().parse::<u64>().ok());
    let (true, Some(total)) = (identity, total) else {
        return response;
    };
    let Some((start, end)) = requested(range, total) else {
        return response;
    };
    let Ok(content_range) = HeaderValue::from_str(&format!("bytes {start}-{}/{total}", end - 1))
    else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    parts.status = StatusCode::PARTIAL_CONTENT;
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(end - start));
    parts.headers.insert(CONTENT_RANGE, content_range);
    let body = RangeOfWhole {
        whole: Some(body),
        skip: start,
        remaining: end - start,
    };
    HttpResponse::from_parts(parts, HttpResponseBody::new(body))
}

/// Bytes `start..end` of an object of `total` bytes named by a `Range`
/// header of one range; `None` for anything else, or a range the object
/// does not hold.
fn requested(range: &str, total: u64) -> Option<(u64, u64)> {
    let spec = range.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let (start, end) = if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        (total.saturating_sub(suffix), total)
    } else {
        let start: u64 = first.parse().ok()?;
        let end = if last.is_empty() {
            total
        } else {
            let last: u64 = last.parse().ok()?;
            if last < start {
                return None;
            }
            last.saturating_add(1).min(total)
        };
        (start, end)
    };
    (start < end).then_some((start, end))
}

/// The server ended the whole object before the range was read.
#[derive(Debug, thiserror::Error)]
#[error("the server's answer ended {0} bytes before the end of the range")]
struct EndedEarly(u64);

/// The range of a whole object's body; the whole body is dropped once the
/// range is read.
struct RangeOfWhole {
    whole: Option<HttpResponseBody>,
    skip: u64,
    remaining: u64,
}

impl Body for RangeOfWhole {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = self.get_mut();
        loop {
            if this.remaining == 0 {
                // Hangs up rather than reading the rest.
                this.whole = None;
                return Poll::Ready(None);
            }
            let Some(whole) = this.whole.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = match ready!(Pin::new(whole).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    this.whole = None;
                    let short = EndedEarly(this.remaining);
                    return Poll::Ready(Some(Err(HttpError::new(
                        HttpErrorKind::Interrupted,
                        short,
                    ))));
                }
            };
            // Trailers are not part of the range.
            let Ok(mut data) = frame.into_data() else {
                continue;
            };
            let skipped = this.skip.min(data.len() as u64);
            data.advance(skipped as usize);
            this.skip -= skipped;
            if data.is_empty() {
                continue;
            }
            let taken = this.remaining.min(data.len() as u64);
            data.truncate(taken as usize);
            this.remaining -= taken;
            if this.remaining == 0 {
                this.whole = None;
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 200 answer of `content` in pieces of `piece` bytes, with
    /// `Content-Length` when `length`.
    fn whole(content: &[u8], piece: usize, length: bool) -> HttpResponse {
        let pieces: Vec<Result<Frame<Bytes>, HttpError>> = content
            .chunks(piece)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(pieces));
        let mut response = HttpResponse::new(HttpResponseBody::new(body));
        if length {
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(content.len()));
        }
        response
    }

    fn ranged(range: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RANGE, HeaderValue::from_str(range).unwrap());
        headers
    }

    #[test]
    fn ranges_of_one_span_are_understood_and_others_are_not() {
        assert_eq!(requested("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(requested("bytes=90-199", 100), Some((90, 100)));
        assert_eq!(requested("bytes=10-", 100), Some((10, 100)));
        assert_eq!(requested("bytes=-30", 100), Some((70, 100)));
        assert_eq!(requested("bytes=-300", 100), Some((0, 100)));
        assert_eq!(requested("bytes=100-", 100), None);
        assert_eq!(requested("bytes=5-4", 100), None);
        assert_eq!(requested("bytes=-0", 100), None);
        assert_eq!(requested("bytes=0-1,5-6", 100), None);
        assert_eq!(requested("items=0-1", 100), None);
        assert_eq!(requested("bytes=0-9", 0), None);
    }

    #[tokio::test]
    async fn a_whole_answer_becomes_the_range_asked_for() {
        let content: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        for (range, expected) in [
            ("bytes=0-99", 0..100),
            ("bytes=1000-5999", 1000..6000),
            ("bytes=9990-", 9990..10_000),
            ("bytes=-10", 9990..10_000),
            ("bytes=4000-20000", 4000..10_000),
        ] {
            let response =
                partial_from_whole(&Method::GET, &ranged(range), whole(&content, 777, true));
            assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
            let headers = response.headers().clone();
            assert_eq!(
                headers[CONTENT_RANGE],
                format!("bytes {}-{}/10000", expected.start, expected.end - 1),
            );
            assert_eq!(headers[CONTENT_LENGTH], expected.len().to_string());
            let body = response.into_body().bytes().await.unwrap();
            assert_eq!(&body[..], &content[expected], "{range}");
        }
    }

    #[tokio::test]
    async fn answers_that_cannot_be_cut_are_left_as_they_are() {
        let content = vec![7u8; 100];
        let cases = [
            (Method::GET, ranged("bytes=0-9"), whole(&content, 10, false)),
            (Method::HEAD, ranged("bytes=0-9"), whole(&content, 10, true)),
            (Method::GET, HeaderMap::new(), whole(&content, 10, true)),
            (Method::GET, ranged("bytes=200-"), whole(&content, 10, true)),
            (
                Method::GET,
                ranged("bytes=0-1,4-5"),
                whole(&content, 10, true),
            ),
            (
                Method::GET,
                {
                    let mut h = ranged("bytes=0-9");
                    h.insert(IF_RANGE, HeaderValue::from_static("\"etag\""));
                    h
                },
                whole(&content, 10, true),
            ),
            (Method::GET, ranged("bytes=0-9"), {
                let mut r = whole(&content, 10, true);
                r.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }),
        ];
        for (method, headers, response) in cases {
            let response = partial_from_whole(&method, &headers, response);
            assert_eq!(response.status(), StatusCode::OK, "{method} {headers:?}");
            assert!(!response.headers().contains_key(CONTENT_RANGE));
        }
    }

    #[tokio::test]
    async fn a_whole_answer_shorter_than_it_claimed_is_an_error() {
        let content = vec![1u8; 50];
        let mut response = whole(&content, 10, true);
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(100u64));
        let response = partial_from_whole(&Method::GET, &ranged("bytes=40-79"), response);
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        let error = response.into_body().bytes().await.unwrap_err();
        assert!(
            error.to_string().contains("ended 30 bytes before"),
            "{error}"
        );
    }
}
