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
//!   `max_upload_bytes`: 413 as soon as one is passed. `map` may name at most
//!   [`MAX_FILES`] files (400 beyond, like a batch over its limit).
//! - **Strict.** Fields out of order, a `map` that is not an object of path
//!   lists, a path that points at nothing in `operations`, a field `map` does
//!   not name, a file sent twice or never, a body that does not follow its
//!   boundary: 400.
//!
//! `async_graphql::http::receive_batch_body` reads this format too, but does
//! not count files (`max_num_files` only caps the whole stream at files ×
//! file size), drops map paths that point at nothing, bounds `operations` by
//! the file size rather than the body limit, and reads it with serde instead
//! of this handler's parameter checks; so the parts are read here, and only
//! its `UploadValue` and `Request::set_upload` are used.
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

use async_graphql::{BatchRequest, UploadValue, Value as GraphQLValue};
use axum::body::{Body, BodyDataStream};
use axum::http::{header, HeaderMap};
use futures_util::StreamExt;
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
    let mut reader = PartReader::new(body, boundary, limits.fields_bytes);
    reader.skip_preamble().await?;

    let name = reader.next_part().await?.map(|part| part.name);
    if name.as_deref() != Some("operations") {
        return Err(malformed(match name {
            Some(name) => {
                format!("a multipart request must start with the `operations` field, not `{name}`")
            }
            None => "the multipart request has no `operations` field".into(),
        }));
    }
    let mut requests = operations(&reader.field().await?).map_err(MultipartError::Malformed)?;

    let name = reader.next_part().await?.map(|part| part.name);
    if name.as_deref() != Some("map") {
        return Err(malformed(match name {
            Some(name) => format!("the `map` field must follow `operations`, not `{name}`"),
            None => "the multipart request has no `map` field".into(),
        }));
    }
    let mut map = read_map(&reader.field().await?, &requests)?;

    let mut received = BTreeSet::new();
    while let Some(part) = reader.next_part().await? {
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
        let content = reader.file(&part.name, limits.file_bytes).await?;
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
    fn from_headers(block: &[u8]) -> Result<Part, MultipartError> {
        let block = String::from_utf8_lossy(block);
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in block.split("\r\n") {
            let Some((header, value)) = line.split_once(':') else {
                return Err(malformed(format!("`{line}` is not a part header")));
            };
            let value = value.trim();
            if header.trim().eq_ignore_ascii_case("content-disposition") {
                let mut params = value.split(';');
                if !params
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .eq_ignore_ascii_case("form-data")
                {
                    return Err(malformed(
                        "each part must have Content-Disposition: form-data",
                    ));
                }
                for (key, value) in disposition_params(value) {
                    match key.to_ascii_lowercase().as_str() {
                        "name" => name = Some(value),
                        "filename" => filename = Some(value),
                        _ => {}
                    }
                }
            } else if header.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.to_owned());
            }
        }
        let name = name.ok_or_else(|| malformed("each part needs a Content-Disposition name"))?;
        Ok(Part {
            name,
            filename,
            content_type,
        })
    }
}

/// The parameters of a Content-Disposition value (after `form-data`).
/// Values are tokens or quoted strings; as browsers send them, a quoted
/// string ends at the next quote (they escape quotes in names as `%22`).
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = value.split_once(';').map_or("", |(_, rest)| rest);
    loop {
        rest = rest.trim_start_matches([';', ' ', '\t']);
        let Some((key, after)) = rest.split_once('=') else {
            return params;
        };
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(';').unwrap_or((after, "")),
        };
        params.push((key.trim().to_owned(), value.trim_end().to_owned()));
        rest = next;
    }
}

/// Reads a multipart body part by part as it streams in.
struct PartReader {
    body: BodyDataStream,
    /// Read, not yet consumed.
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already handed out by `content`.
    handed_out: usize,
    /// `CRLF--boundary`, which ends every part.
    delimiter: Vec<u8>,
    /// What the parts other than files may still use of `fields_limit`.
    fields_left: usize,
    fields_limit: usize,
    /// Whether the first delimiter has been seen.
    in_parts: bool,
}

impl PartReader {
    fn new(body: Body, boundary: &str, fields_limit: usize) -> Self {
        PartReader {
            body: body.into_data_stream(),
            // The first delimiter needs no line break before it.
            buffer: b"\r\n".to_vec(),
            handed_out: 0,
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            fields_left: fields_limit,
            fields_limit,
            in_parts: false,
        }
    }

    /// Reads more of the body; false at its end.
    async fn fill(&mut self) -> Result<bool, MultipartError> {
        match self.body.next().await {
            Some(Ok(chunk)) => {
                self.buffer.extend_from_slice(&chunk);
                Ok(true)
            }
            Some(Err(_)) => Err(malformed("the request body cannot be read")),
            None => Ok(false),
        }
    }

    /// Reads until `buffer` holds at least `n` bytes.
    async fn fill_to(&mut self, n: usize) -> Result<(), MultipartError> {
        self.consume_handed_out();
        while self.buffer.len() < n {
            if !self.fill().await? {
                return Err(self.truncated());
            }
        }
        Ok(())
    }

    fn truncated(&self) -> MultipartError {
        malformed(if self.in_parts {
            "the multipart body ends before its closing boundary"
        } else {
            "the body has no part that opens with the boundary of its Content-Type"
        })
    }

    fn consume_handed_out(&mut self) {
        self.buffer.drain(..self.handed_out);
        self.handed_out = 0;
    }

    fn too_large(&self) -> MultipartError {
        MultipartError::TooLarge(format!(
            "a multipart request is larger than {} bytes without its files",
            self.fields_limit
        ))
    }

    /// Counts bytes against the limit of everything but the files.
    fn charge(&mut self, n: usize) -> Result<(), MultipartError> {
        self.fields_left = self
            .fields_left
            .checked_sub(n)
            .ok_or_else(|| self.too_large())?;
        Ok(())
    }

    /// Consumes `n` bytes of the buffer that are not file content.
    fn consume(&mut self, n: usize) -> Result<(), MultipartError> {
        self.charge(n)?;
        self.buffer.drain(..n);
        Ok(())
    }

    /// The next piece of the current part's content; `None` once the part
    /// has ended (its delimiter is consumed).
    async fn content(&mut self) -> Result<Option<&[u8]>, MultipartError> {
        self.consume_handed_out();
        loop {
            if let Some(at) = find(&self.buffer, &self.delimiter) {
                if at == 0 {
                    self.buffer.drain(..self.delimiter.len());
                    return Ok(None);
                }
                self.handed_out = at;
                return Ok(Some(&self.buffer[..at]));
            }
            // Keep what could be the start of a delimiter.
            let safe = (self.buffer.len() + 1).saturating_sub(self.delimiter.len());
            if safe > 0 {
                self.handed_out = safe;
                return Ok(Some(&self.buffer[..safe]));
            }
            if !self.fill().await? {
                return Err(self.truncated());
            }
        }
    }

    /// Skips what comes before the first delimiter.
    async fn skip_preamble(&mut self) -> Result<(), MultipartError> {
        while let Some(n) = self.content().await?.map(<[u8]>::len) {
            self.charge(n)?;
        }
        self.in_parts = true;
        Ok(())
    }

    /// The headers of the next part, right after a delimiter; `None` after
    /// the closing delimiter.
    async fn next_part(&mut self) -> Result<Option<Part>, MultipartError> {
        self.fill_to(2).await?;
        if self.buffer.starts_with(b"--") {
            return Ok(None);
        }
        // Transport padding, then the line break that ends the delimiter line.
        while matches!(self.buffer[0], b' ' | b'\t') {
            self.consume(1)?;
            self.fill_to(2).await?;
        }
        if !self.buffer.starts_with(b"\r\n") {
            return Err(malformed(
                "a multipart boundary must be followed by a line break",
            ));
        }
        // The headers run from that line break to an empty line.
        let end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at;
            }
            if self.buffer.len() > self.fields_left {
                return Err(self.too_large());
            }
            if !self.fill().await? {
                return Err(self.truncated());
            }
        };
        let part = Part::from_headers(if end == 0 { &[] } else { &self.buffer[2..end] })?;
        self.consume(end + 4)?;
        Ok(Some(part))
    }

    /// The content of a field, in memory, within the fields' limit.
    async fn field(&mut self) -> Result<Vec<u8>, MultipartError> {
        let mut value = Vec::new();
        while let Some(piece) = self.content().await? {
            let n = piece.len();
            value.extend_from_slice(piece);
            self.charge(n)?;
        }
        Ok(value)
    }

    /// The content of the file `name` in an anonymous temporary file, read
    /// from its start; more than `limit` bytes is an error.
    async fn file(&mut self, name: &str, limit: usize) -> Result<std::fs::File, MultipartError> {
        if limit == 0 {
            return Err(MultipartError::NoUploads);
        }
        let spool = anonymous_temp_file().await.map_err(MultipartError::Spool)?;
        let mut writer = BufWriter::with_capacity(64 * 1024, spool);
        let mut size = 0;
        while let Some(piece) = self.content().await? {
            size += piece.len();
            if size > limit {
                return Err(MultipartError::TooLarge(format!(
                    "the file `{name}` is larger than {limit} bytes"
                )));
            }
            writer
                .write_all(piece)
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
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(at) = haystack[from..].iter().position(|b| *b == first) {
        let at = from + at;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        if haystack.len() - at < needle.len() {
            return None;
        }
        from = at + 1;
    }
    None
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
            ("b", Some("b.csv"), ""),
        ]);
        // A preamble and an epilogue are ignored.
        let whole = format!("preamble\r\n{fields}epilogue");
        for chunk in [1, 2, 7, 13, whole.len()] {
            let request = read(&whole, chunk).await.unwrap().into_single().unwrap();
            let response = run(request).await;
            assert_eq!(
                response["data"]["read"],
                "a.csv:objectUrl\r\n--xYzZ\r\n,b.csv:,a.csv:objectUrl\r\n--xYzZ\r\n",
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
    fn reads_boundaries_and_dispositions() {
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

        assert_eq!(
            disposition_params(r#"form-data; name="map"; filename="a;b.csv""#),
            vec![
                ("name".to_owned(), "map".to_owned()),
                ("filename".to_owned(), "a;b.csv".to_owned())
            ]
        );
        assert_eq!(
            disposition_params("form-data;name=operations"),
            vec![("name".to_owned(), "operations".to_owned())]
        );
        assert_eq!(find(b"abcab", b"ab"), Some(0));
        assert_eq!(find(b"xxab", b"ab"), Some(2));
        assert_eq!(find(b"xxa", b"ab"), None);
    }
}
