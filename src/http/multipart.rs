//! File uploads on `POST /graphql`: the GraphQL multipart request
//! (<https://github.com/jaydenseric/graphql-multipart-request-spec>).
//!
//! A `multipart/form-data` body whose fields come in this order:
//! `operations`, the JSON of one request or a batch exactly as a JSON body
//! would hold it (same checks, same batch limit); `map`, a JSON object from
//! each file field's name to the places the file goes (`variables.input.file`,
//! or `0.variables.input.file` in a batch); then the file fields. Each file
//! streams into an anonymous temporary file, never into memory, and reaches
//! its resolver as an `Upload`.
//!
//! - **Limits.** All but the files' content (the two JSON fields, part
//!   headers, a preamble) counts against `max_body_bytes`, each file against
//!   `max_upload_bytes`: 413 as soon as one is passed (for part headers and
//!   a preamble, within one chunk of the body). `map` may name at most
//!   [`MAX_FILES`] files (400 beyond, like a batch over its limit).
//! - **Strict.** Fields out of order, a `map` that is not an object of path
//!   lists, a path that points at nothing in `operations`, a field `map` does
//!   not name, a file sent twice or never, a body that does not follow its
//!   boundary: 400.
//!
//! The bytes (boundaries, part headers, content) are `multer`'s; this module
//! keeps the spec's rules and the limits. `async_graphql::http::receive_batch_body`
//! reads this format too (with `multer`), but does not count files
//! (`max_num_files` only caps the whole stream at files × file size), drops
//! map paths that point at nothing, bounds `operations` by the file size
//! rather than the body limit, and reads it with serde instead of this
//! handler's parameter checks; so only its `UploadValue` and
//! `Request::set_upload` are used.
//!
//! **No CSRF header is required.** A cross-site HTML form can post
//! `multipart/form-data` without a CORS preflight, which is why servers that
//! authenticate by cookie demand a custom header on uploads. This API reads
//! no cookie: it authenticates only by `Authorization: Bearer`, which a form
//! cannot set and a cross-origin script cannot send without a preflight. A
//! forged upload runs anonymous, and anonymous callers can do nothing but
//! introspection.

use std::collections::{BTreeMap, BTreeSet};
use std::io::SeekFrom;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_graphql::{BatchRequest, UploadValue, Value as GraphQLValue};
use axum::body::{Body, BodyDataStream, Bytes};
use axum::http::{header, HeaderMap};
use futures_util::Stream;
use serde_json::Value;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

/// Most files one multipart request may carry (the names in its `map`).
pub const MAX_FILES: usize = 4;

/// Why a multipart request cannot be read.
#[derive(Debug)]
pub enum MultipartError {
    /// The client's fault: 400.
    Malformed(String),
    /// A limit is passed: 413.
    TooLarge(String),
    /// A temporary file could not be written: ours, 500.
    Spool(std::io::Error),
    /// A file was sent by a caller who may not upload (no token): 401.
    NoUploads,
}

fn malformed(message: impl Into<String>) -> MultipartError {
    MultipartError::Malformed(message.into())
}

/// Byte limits of a multipart request.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Everything but the files' content.
    pub fields_bytes: usize,
    /// Each file.
    pub file_bytes: usize,
}

impl UploadLimits {
    /// The largest body these limits allow.
    pub fn body_bytes(&self) -> u64 {
        let files = (self.file_bytes as u64).saturating_mul(MAX_FILES as u64);
        (self.fields_bytes as u64).saturating_add(files)
    }
}

/// The boundary of a `multipart/form-data` request: `None` for another
/// Content-Type, an error when the boundary is missing or invalid.
pub fn form_data_boundary(headers: &HeaderMap) -> Option<Result<String, String>> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = parts.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    });
    Some(match boundary {
        // RFC 2046: 1 to 70 characters.
        Some(boundary) if (1..=70).contains(&boundary.len()) => Ok(boundary),
        Some(_) => Err("the multipart boundary must be 1 to 70 characters long".into()),
        None => Err("a multipart/form-data Content-Type needs a boundary parameter".into()),
    })
}

/// Reads a GraphQL multipart request. `operations` reads the `operations`
/// field as the handler reads a JSON body; each file lands in the
/// variables `map` names as an upload.
pub async fn read_request(
    body: Body,
    boundary: &str,
    limits: UploadLimits,
    operations: impl FnOnce(&[u8]) -> Result<BatchRequest, String>,
) -> Result<BatchRequest, MultipartError> {
    let mut parts = Parts::new(body, boundary, limits.fields_bytes);

    let field = parts.next().await?;
    let name = field.as_ref().map(|(part, _)| part.name.clone());
    let Some((_, field)) = field.filter(|_| name.as_deref() == Some("operations")) else {
        return Err(malformed(match name {
            Some(name) => {
                format!("a multipart request must start with the `operations` field, not `{name}`")
            }
            None => "the multipart request has no `operations` field".into(),
        }));
    };
    let mut requests = operations(&parts.field(field).await?).map_err(MultipartError::Malformed)?;

    let field = parts.next().await?;
    let name = field.as_ref().map(|(part, _)| part.name.clone());
    let Some((_, field)) = field.filter(|_| name.as_deref() == Some("map")) else {
        return Err(malformed(match name {
            Some(name) => format!("the `map` field must follow `operations`, not `{name}`"),
            None => "the multipart request has no `map` field".into(),
        }));
    };
    let mut map = read_map(&parts.field(field).await?, &requests)?;

    let mut received = BTreeSet::new();
    while let Some((part, field)) = parts.next().await? {
        let Some(paths) = map.remove(&part.name) else {
            return Err(malformed(if received.contains(&part.name) {
                format!("the file `{}` is sent twice", part.name)
            } else {
                format!(
                    "the multipart field `{}` is not a file named in `map`",
                    part.name
                )
            }));
        };
        let content = parts.file(field, &part.name, limits.file_bytes).await?;
        let upload = UploadValue {
            filename: part.filename.unwrap_or_default(),
            content_type: part.content_type,
            content,
        };
        for path in &paths {
            let copy = upload.try_clone().map_err(MultipartError::Spool)?;
            if !place(&mut requests, path, copy) {
                return Err(points_at_nothing(&part.name, path));
            }
        }
        received.insert(part.name);
    }
    if let Some(name) = map.keys().next() {
        return Err(malformed(format!(
            "`map` names the file `{name}`, which the request does not carry"
        )));
    }
    Ok(requests)
}

/// `map`: each file field's name and where its file goes, every path
/// checked against `operations`.
fn read_map(
    bytes: &[u8],
    requests: &BatchRequest,
) -> Result<BTreeMap<String, Vec<String>>, MultipartError> {
    let map: Value = serde_json::from_slice(bytes)
        .map_err(|e| malformed(format!("`map` is not valid JSON: {e}")))?;
    let Value::Object(entries) = map else {
        return Err(malformed(
            "`map` must be a JSON object from file field names to arrays of paths",
        ));
    };
    if entries.len() > MAX_FILES {
        return Err(malformed(format!(
            "a multipart request may carry at most {MAX_FILES} files, this `map` names {}",
            entries.len()
        )));
    }
    let mut files = BTreeMap::new();
    for (name, paths) in entries {
        let paths: Vec<String> = match paths {
            Value::Array(paths) if !paths.is_empty() => paths
                .into_iter()
                .map(|path| match path {
                    Value::String(path) => Ok(path),
                    _ => Err(()),
                })
                .collect::<Result<_, _>>()
                .map_err(|()| {
                    malformed(format!("the paths of `{name}` in `map` must be strings"))
                })?,
            _ => {
                return Err(malformed(format!(
                    "`{name}` in `map` must have a non-empty array of paths"
                )))
            }
        };
        if let Some(path) = paths
            .iter()
            .find(|path| !points_at_variable(requests, path))
        {
            return Err(points_at_nothing(&name, path));
        }
        files.insert(name, paths);
    }
    Ok(files)
}

fn points_at_nothing(name: &str, path: &str) -> MultipartError {
    malformed(format!(
        "the `map` path `{path}` of the file `{name}` points at nothing in `operations`"
    ))
}

/// The request a `map` path addresses (its index in a batch) and the path
/// within that request.
fn split_path<'p>(requests: &BatchRequest, path: &'p str) -> Option<(usize, &'p str)> {
    match requests {
        BatchRequest::Single(_) => Some((0, path)),
        BatchRequest::Batch(_) => {
            let (index, path) = path.split_once('.')?;
            Some((index.parse().ok()?, path))
        }
    }
}

/// Whether a `map` path names a variable, or a list item or field within
/// one, as `Request::set_upload` resolves it.
fn points_at_variable(requests: &BatchRequest, path: &str) -> bool {
    let Some((index, path)) = split_path(requests, path) else {
        return false;
    };
    let Some(request) = requests.iter().nth(index) else {
        return false;
    };
    let Some(mut segments) = path.strip_prefix("variables.").map(|p| p.split('.')) else {
        return false;
    };
    let mut value = segments.next().and_then(|name| request.variables.get(name));
    for segment in segments {
        value = match value {
            Some(GraphQLValue::List(items)) => {
                segment.parse().ok().and_then(|i: usize| items.get(i))
            }
            Some(GraphQLValue::Object(fields)) => fields.get(segment),
            _ => None,
        };
    }
    value.is_some()
}

/// Puts an upload where a `map` path points; false when it points at
/// nothing (a path into a place an earlier file took).
fn place(requests: &mut BatchRequest, path: &str, upload: UploadValue) -> bool {
    let Some((index, path)) = split_path(requests, path) else {
        return false;
    };
    let Some(request) = requests.iter_mut().nth(index) else {
        return false;
    };
    let before = request.uploads.len();
    request.set_upload(path, upload);
    request.uploads.len() > before
}

/// What the headers of a part say.
#[derive(Debug)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
}

impl Part {
    fn of(field: &multer::Field<'_>) -> Result<Part, MultipartError> {
        let disposition = field.headers().get(header::CONTENT_DISPOSITION);
        let form_data = |value: &str| {
            let kind = value.split(';').next().unwrap_or_default();
            kind.trim().eq_ignore_ascii_case("form-data")
        };
        if disposition.is_some_and(|value| !value.to_str().is_ok_and(form_data)) {
            return Err(malformed(
                "each part must have Content-Disposition: form-data",
            ));
        }
        let name = field
            .name()
            .ok_or_else(|| malformed("each part needs a Content-Disposition name"))?;
        let content_type = field.headers().get(header::CONTENT_TYPE);
        Ok(Part {
            name: name.to_owned(),
            filename: field.file_name().map(str::to_owned),
            content_type: content_type
                .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned()),
        })
    }
}

/// The parts of a multipart body as `multer` reads them, with the limit on
/// all but the files' content.
struct Parts {
    multipart: multer::Multipart<'static>,
    counts: Arc<Counts>,
    fields_limit: usize,
    /// Whether a part has been read (a body that ends before any is one
    /// without the Content-Type's boundary).
    any: bool,
}

impl Parts {
    fn new(body: Body, boundary: &str, fields_limit: usize) -> Parts {
        let counts = Arc::new(Counts::default());
        let body = Counted {
            body: body.into_data_stream(),
            counts: Arc::clone(&counts),
            fields_limit: fields_limit as u64,
            yielded: false,
        };
        Parts {
            multipart: multer::Multipart::new(body, boundary),
            counts,
            fields_limit,
            any: false,
        }
    }

    /// The next part and its headers; `None` after the closing boundary.
    async fn next(&mut self) -> Result<Option<(Part, multer::Field<'static>)>, MultipartError> {
        let field = self
            .multipart
            .next_field()
            .await
            .map_err(|e| self.error(e))?;
        // After the closing boundary every file has been handed out: the
        // count is exact.
        if field.is_none() && self.counts.fields() > self.fields_limit as u64 {
            return Err(self.too_large());
        }
        self.any |= field.is_some();
        field
            .map(|field| Ok((Part::of(&field)?, field)))
            .transpose()
    }

    /// The content of a field, in memory, within the fields' limit.
    async fn field(&self, mut field: multer::Field<'static>) -> Result<Vec<u8>, MultipartError> {
        let mut value = Vec::new();
        while let Some(piece) = field.chunk().await.map_err(|e| self.error(e))? {
            value.extend_from_slice(&piece);
            if value.len() > self.fields_limit {
                return Err(self.too_large());
            }
        }
        Ok(value)
    }

    /// The content of the file `name` in an anonymous temporary file, read
    /// from its start; more than `limit` bytes is an error.
    async fn file(
        &self,
        mut field: multer::Field<'static>,
        name: &str,
        limit: usize,
    ) -> Result<std::fs::File, MultipartError> {
        if limit == 0 {
            return Err(MultipartError::NoUploads);
        }
        let spool = anonymous_temp_file().await.map_err(MultipartError::Spool)?;
        let mut writer = BufWriter::with_capacity(64 * 1024, spool);
        let mut size = 0;
        while let Some(piece) = field.chunk().await.map_err(|e| self.error(e))? {
            size += piece.len();
            self.counts
                .files
                .fetch_add(piece.len() as u64, Ordering::Relaxed);
            if size > limit {
                return Err(MultipartError::TooLarge(format!(
                    "the file `{name}` is larger than {limit} bytes"
                )));
            }
            writer
                .write_all(&piece)
                .await
                .map_err(MultipartError::Spool)?;
        }
        writer.flush().await.map_err(MultipartError::Spool)?;
        let mut spool = writer.into_inner();
        spool
            .seek(SeekFrom::Start(0))
            .await
            .map_err(MultipartError::Spool)?;
        Ok(spool.into_std().await)
    }

    fn too_large(&self) -> MultipartError {
        MultipartError::TooLarge(format!(
            "a multipart request is larger than {} bytes without its files",
            self.fields_limit
        ))
    }

    fn error(&self, e: multer::Error) -> MultipartError {
        use multer::Error;
        match e {
            Error::StreamReadFailed(e) => match e.downcast_ref::<BodyError>() {
                Some(BodyError::TooLarge) => self.too_large(),
                _ => malformed("the request body cannot be read"),
            },
            Error::IncompleteStream
            | Error::IncompleteFieldData { .. }
            | Error::IncompleteHeaders
                if self.counts.ended.load(Ordering::Relaxed) =>
            {
                malformed(if self.any {
                    "the multipart body ends before its closing boundary"
                } else {
                    "the body has no part that opens with the boundary of its Content-Type \
                     (or it ends before its closing boundary)"
                })
            }
            // The stream goes on, but a boundary is followed by neither `--`
            // nor a line break.
            Error::IncompleteStream => {
                malformed("a multipart boundary must be followed by a line break")
            }
            e => malformed(format!("the multipart body cannot be read: {e}")),
        }
    }
}

/// Bytes of the body read so far, and of them those handed out as files.
#[derive(Debug, Default)]
struct Counts {
    read: AtomicU64,
    last_chunk: AtomicU64,
    files: AtomicU64,
    ended: std::sync::atomic::AtomicBool,
}

impl Counts {
    /// Bytes read that were not handed out as file content.
    fn fields(&self) -> u64 {
        let read = self.read.load(Ordering::Relaxed);
        read.saturating_sub(self.files.load(Ordering::Relaxed))
    }
}

/// Why the body stream stops.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the request body cannot be read")]
    Unreadable,
    #[error("the request is too large without its files")]
    TooLarge,
}

/// The request body as `multer` reads it: one chunk at a time (multer takes
/// all a stream has ready, which on a fast connection could be much of an
/// upload in memory), stopped before the next chunk once what is surely not
/// file content has passed the fields' limit. The count is exact at the
/// closing boundary; before it, the body may run a chunk past the limit.
struct Counted {
    body: BodyDataStream,
    counts: Arc<Counts>,
    fields_limit: u64,
    yielded: bool,
}

impl Stream for Counted {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if std::mem::take(&mut self.yielded) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // multer reads before it parses, so the last chunk may still be in
        // its buffer: only what came before it is surely not file content.
        let last = self.counts.last_chunk.load(Ordering::Relaxed);
        if self.counts.fields().saturating_sub(last) > self.fields_limit {
            return Poll::Ready(Some(Err(BodyError::TooLarge)));
        }
        let chunk = match Pin::new(&mut self.body).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => chunk,
            Poll::Ready(Some(Err(_))) => return Poll::Ready(Some(Err(BodyError::Unreadable))),
            Poll::Ready(None) => {
                self.counts.ended.store(true, Ordering::Relaxed);
                return Poll::Ready(None);
            }
            Poll::Pending => return Poll::Pending,
        };
        self.yielded = true;
        self.counts
            .read
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        self.counts
            .last_chunk
            .store(chunk.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(chunk)))
    }
}

/// A temporary file with no name: removed from the folder at once (on
/// Windows, when closed), so its space is freed when the last handle closes,
/// whatever becomes of the request.
async fn anonymous_temp_file() -> std::io::Result<tokio::fs::File> {
    let path = std::env::temp_dir().join(format!(
        "annograph-upload-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    #[cfg(windows)]
    options.custom_flags(0x0400_0000); // FILE_FLAG_DELETE_ON_CLOSE
    let file = options.open(&path).await?;
    #[cfg(not(windows))]
    tokio::fs::remove_file(&path).await?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use async_graphql::{Context, EmptySubscription, Object, Schema, Upload};
    use axum::body::Bytes;

    use super::*;

    const BOUNDARY: &str = "xYzZY";

    /// A multipart body of the given fields: (name, filename, content).
    fn body(fields: &[(&str, Option<&str>, &str)]) -> String {
        let mut body = String::new();
        for (name, filename, content) in fields {
            body.push_str(&format!("--{BOUNDARY}\r\n"));
            match filename {
                Some(filename) => body.push_str(&format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                     Content-Type: text/csv\r\n\r\n"
                )),
                None => body.push_str(&format!(
                    "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                )),
            }
            body.push_str(content);
            body.push_str("\r\n");
        }
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
        body
    }

    fn operations(bytes: &[u8]) -> Result<BatchRequest, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("operations: {e}"))
    }

    const LIMITS: UploadLimits = UploadLimits {
        fields_bytes: 1024,
        file_bytes: 64,
    };

    /// Reads `body` delivered in chunks of `chunk` bytes.
    async fn read(body: &str, chunk: usize) -> Result<BatchRequest, MultipartError> {
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .as_bytes()
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        read_request(body, BOUNDARY, LIMITS, operations).await
    }

    struct Query;

    #[Object]
    impl Query {
        async fn ok(&self) -> bool {
            true
        }
    }

    struct Mutation;

    #[Object]
    impl Mutation {
        /// `filename:content` of each file.
        async fn read(
            &self,
            ctx: &Context<'_>,
            files: Vec<Upload>,
        ) -> async_graphql::Result<String> {
            let mut out = Vec::new();
            for file in files {
                // Copies of one file share its read position.
                let mut value = file.value(ctx)?;
                value.content.rewind()?;
                let mut text = String::new();
                value.content.read_to_string(&mut text)?;
                out.push(format!("{}:{text}", value.filename));
            }
            Ok(out.join(","))
        }
    }

    async fn run(request: async_graphql::Request) -> serde_json::Value {
        let schema = Schema::new(Query, Mutation, EmptySubscription);
        serde_json::to_value(schema.execute(request).await).unwrap()
    }

    fn message(result: Result<BatchRequest, MultipartError>) -> String {
        match result {
            Err(MultipartError::Malformed(message)) => message,
            Err(other) => panic!("expected a 400, got {other:?}"),
            Ok(request) => panic!("expected a 400, got {request:?}"),
        }
    }

    #[tokio::test]
    async fn files_reach_resolvers_as_uploads_however_the_body_is_chunked() {
        let fields = body(&[
            (
                "operations",
                None,
                r#"{"query":"mutation($f: [Upload!]!) { read(files: $f) }","variables":{"f":[null,null,null]}}"#,
            ),
            (
                "map",
                None,
                r#"{"a":["variables.f.0","variables.f.2"],"b":["variables.f.1"]}"#,
            ),
            ("a", Some("a.csv"), "objectUrl\r\n--xYzZ\r\n"),
            // A quoted file name ends at its closing quote.
            ("b", Some("b;1.csv"), ""),
        ]);
        // A preamble and an epilogue are ignored.
        let whole = format!("preamble\r\n{fields}epilogue");
        for chunk in [1, 2, 7, 13, whole.len()] {
            let request = read(&whole, chunk).await.unwrap().into_single().unwrap();
            let response = run(request).await;
            assert_eq!(
                response["data"]["read"],
                "a.csv:objectUrl\r\n--xYzZ\r\n,b;1.csv:,a.csv:objectUrl\r\n--xYzZ\r\n",
                "chunks of {chunk}: {response}"
            );
        }
    }

    #[tokio::test]
    async fn batches_address_requests_by_index() {
        let fields = body(&[
            (
                "operations",
                None,
                r#"[{"query":"{ ok }"},{"query":"mutation($f: [Upload!]!) { read(files: $f) }","variables":{"f":[null]}}]"#,
            ),
            ("map", None, r#"{"0":["1.variables.f.0"]}"#),
            ("0", Some("m.csv"), "x"),
        ]);
        let BatchRequest::Batch(mut requests) = read(&fields, 5).await.unwrap() else {
            panic!("a batch");
        };
        let second = requests.pop().unwrap();
        assert_eq!(run(second).await["data"]["read"], "m.csv:x");
    }

    #[tokio::test]
    async fn malformed_requests_are_refused_with_a_reason() {
        let ops =
            r#"{"query":"mutation($f: Upload) { read(files: [$f]) }","variables":{"f":null}}"#;
        let map = r#"{"0":["variables.f"]}"#;
        let cases: Vec<(&str, String)> = vec![
            ("no `operations` field", body(&[])),
            (
                "must start with the `operations` field",
                body(&[("map", None, map)]),
            ),
            ("no `map` field", body(&[("operations", None, ops)])),
            (
                "must follow `operations`",
                body(&[("operations", None, ops), ("0", Some("a"), "x")]),
            ),
            (
                "operations: ",
                body(&[("operations", None, "{"), ("map", None, map)]),
            ),
            (
                "`map` is not valid JSON",
                body(&[("operations", None, ops), ("map", None, "{")]),
            ),
            (
                "must be a JSON object",
                body(&[("operations", None, ops), ("map", None, "[]")]),
            ),
            (
                "non-empty array of paths",
                body(&[
                    ("operations", None, ops),
                    ("map", None, r#"{"0":"variables.f"}"#),
                ]),
            ),
            (
                "must be strings",
                body(&[("operations", None, ops), ("map", None, r#"{"0":[1]}"#)]),
            ),
            (
                "points at nothing",
                body(&[
                    ("operations", None, ops),
                    ("map", None, r#"{"0":["variables.g"]}"#),
                ]),
            ),
            (
                "points at nothing",
                body(&[("operations", None, ops), ("map", None, r#"{"0":["f"]}"#)]),
            ),
            (
                "at most 4 files",
                body(&[
                    ("operations", None, ops),
                    (
                        "map",
                        None,
                        r#"{"0":["variables.f"],"1":["variables.f"],"2":["variables.f"],"3":["variables.f"],"4":["variables.f"]}"#,
                    ),
                ]),
            ),
            (
                "not a file named in `map`",
                body(&[
                    ("operations", None, ops),
                    ("map", None, map),
                    ("1", Some("a"), "x"),
                ]),
            ),
            (
                "sent twice",
                body(&[
                    ("operations", None, ops),
                    ("map", None, map),
                    ("0", Some("a"), "x"),
                    ("0", Some("a"), "x"),
                ]),
            ),
            (
                "does not carry",
                body(&[("operations", None, ops), ("map", None, map)]),
            ),
            ("ends before its closing boundary", {
                let mut cut = body(&[("operations", None, ops), ("map", None, map)]);
                cut.truncate(cut.len() - 12);
                cut
            }),
            (
                "no part that opens with the boundary",
                body(&[("operations", None, ops)]).replace(BOUNDARY, "other"),
            ),
            (
                "followed by a line break",
                body(&[("operations", None, ops)]).replacen("\r\n", "x\r\n", 1),
            ),
            (
                "Content-Disposition: form-data",
                body(&[("operations", None, ops)]).replace("form-data;", "attachment;"),
            ),
        ];
        for (expected, body) in cases {
            let message = message(read(&body, 3).await);
            assert!(
                message.contains(expected),
                "{expected:?} not in {message:?}"
            );
        }
    }

    #[tokio::test]
    async fn limits_are_413() {
        let ops =
            r#"{"query":"mutation($f: Upload) { read(files: [$f]) }","variables":{"f":null}}"#;
        let map = r#"{"0":["variables.f"]}"#;
        let big_file = body(&[
            ("operations", None, ops),
            ("map", None, map),
            ("0", Some("a"), &"x".repeat(65)),
        ]);
        let padded = format!("{ops}{}", " ".repeat(1024));
        let big_operations = body(&[("operations", None, &padded), ("map", None, map)]);
        let long_headers = body(&[("operations", None, ops)]).replacen(
            "\r\n\r\n",
            &format!("\r\nX-Pad: {}\r\n\r\n", "x".repeat(1024)),
            1,
        );
        for body in [big_file, big_operations, long_headers] {
            assert!(matches!(
                read(&body, 16).await,
                Err(MultipartError::TooLarge(_))
            ));
        }
        // Exactly at the limit is fine.
        let full = body(&[
            ("operations", None, ops),
            ("map", None, map),
            ("0", Some("a"), &"x".repeat(64)),
        ]);
        assert!(read(&full, 16).await.is_ok());
    }

    #[test]
    fn reads_boundaries() {
        let boundary = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            form_data_boundary(&headers)
        };
        assert_eq!(boundary("application/json"), None);
        assert_eq!(
            boundary("multipart/form-data; boundary=abc"),
            Some(Ok("abc".into()))
        );
        assert_eq!(
            boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b\""),
            Some(Ok("a b".into()))
        );
        assert!(matches!(boundary("multipart/form-data"), Some(Err(_))));
        assert!(matches!(
            boundary("multipart/form-data; boundary="),
            Some(Err(_))
        ));
    }
}
