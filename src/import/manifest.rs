//! Import manifests: the JSON or CSV file listing the cloud objects to
//! register into a dataset, read as a stream of entries.
//!
//! # JSON
//!
//! ```text
//! {
//!   "videos": [{"objectUrl": "s3://bucket/a.mp4", "title": "A", "clientMetadata": {"k": 1},
//!               "videoMetadata": {"fps": 25}}],
//!   "images": [{"objectUrl": "gs://bucket/b.jpg", "imageMetadata": {"width": 640}}],
//!   "image_groups": [{"objectUrl_0": "s3://bucket/1.jpg", "objectUrl_1": "s3://bucket/2.jpg"}],
//!   "skip_duplicate_urls": true
//! }
//! ```
//!
//! The top-level object may hold the arrays `videos`, `images`, `image_groups`,
//! `image_sequences`, `dicom_series`, `audio`, `text` and `pdf` (each optional,
//! `null` counts as absent) and `skip_duplicate_urls` (before or after the
//! arrays). The array decides the kind. Entries of `image_groups` and
//! `image_sequences` list their objects as `objectUrl_0`, `objectUrl_1`, …
//! (at least one, numbered from 0 without gaps); `dicom_series` entries take
//! either one `objectUrl` or such a numbered list; all others take one
//! `objectUrl`. Other keys of an entry are ignored; other top-level keys are
//! an error, so that a misspelt array name is not silently empty.
//!
//! # CSV
//!
//! A header row, then one entry a line (RFC 4180 quoting). Columns, by
//! case-insensitive name: `objectUrl` (or `object_url`, required), `title`,
//! `kind` (one of [`KINDS`], case-insensitive; inferred from the URL's
//! extension when missing or blank) and `clientMetadata` (or
//! `client_metadata`, a JSON object). Other columns are ignored, blank lines
//! skipped, LF and CRLF line ends and a UTF-8 byte order mark accepted.
//!
//! # Streaming and errors
//!
//! [`ManifestParser`] (or [`parse_stream`]) reads the manifest incrementally:
//! it holds one read buffer ([`READ_BUFFER_BYTES`]) and one entry (a CSV
//! record or a JSON array element, at most [`MAX_ENTRY_BYTES`]), whatever the
//! size of the manifest. A JSON element is delimited by a string- and
//! bracket-aware scanner and then deserialized on its own with serde_json.
//!
//! A bad entry (missing or invalid URL, unknown kind, metadata that is not an
//! object, …) yields an error with `fatal == false`, and the stream goes on with
//! the next entry, so an import that ignores file errors can record it and
//! continue. A manifest that cannot be read further (malformed JSON, an
//! unclosed CSV quote, a bad header, a limit exceeded, an I/O error) yields one
//! error with `fatal == true`, and the stream ends.

use std::collections::BTreeMap;
use std::fmt;

use futures_util::Stream;
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::service::files::{title_from_url, validate_object_url, KINDS, MAX_URL_LENGTH};
use crate::service::input::TITLE_MAX;

/// The largest single entry, in bytes: a CSV record, or a JSON array element
/// (or top-level value) as written in the manifest.
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// The size of the parser's read buffer.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The capacity the entry buffer goes back to after an unusually large entry.
const KEEP_ENTRY_BUFFER_BYTES: usize = 16 * 1024;

/// The JSON arrays of a manifest and the kind of file each one lists.
const ARRAYS: [(&str, &str); 8] = [
    ("videos", "VIDEO"),
    ("images", "IMAGE"),
    ("image_groups", "IMAGE_GROUP"),
    ("image_sequences", "IMAGE_SEQUENCE"),
    ("dicom_series", "DICOM_SERIES"),
    ("audio", "AUDIO"),
    ("text", "TEXT"),
    ("pdf", "PDF"),
];

const SKIP_DUPLICATE_URLS: &str = "skip_duplicate_urls";

/// How a manifest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    Json,
    Csv,
}

impl ManifestFormat {
    /// The format a file name (or URL) suggests by its extension, `.json` or
    /// `.csv` in any case.
    pub fn from_file_name(name: &str) -> Option<ManifestFormat> {
        let path = name.split(['?', '#']).next().unwrap_or(name);
        let (_, extension) = path.rsplit_once('.')?;
        if extension.eq_ignore_ascii_case("json") {
            Some(ManifestFormat::Json)
        } else if extension.eq_ignore_ascii_case("csv") {
            Some(ManifestFormat::Csv)
        } else {
            None
        }
    }
}

/// Bounds on what a manifest may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestLimits {
    /// Most entries, good or bad, in one manifest.
    pub max_entries: usize,
    /// Longest object URL, in bytes. URLs are also held to
    /// [`MAX_URL_LENGTH`] by `validate_object_url`.
    pub max_url_len: usize,
    /// Largest manifest, in bytes.
    pub max_bytes: u64,
}

impl Default for ManifestLimits {
    fn default() -> Self {
        ManifestLimits {
            max_entries: 100_000,
            max_url_len: MAX_URL_LENGTH,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// One file to import.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// 0-based number of the entry in the manifest (in document order, across
    /// the JSON arrays; bad entries are counted too).
    pub index: usize,
    /// The CSV line the entry starts on, 1-based, the header included; `None`
    /// for JSON.
    pub line: Option<u64>,
    /// One of [`KINDS`].
    pub kind: String,
    /// One URL, or the URLs of an image group, image sequence or DICOM series
    /// in order.
    pub object_urls: Vec<String>,
    /// The given title, or the path of the (first) URL.
    pub title: String,
    /// `clientMetadata`, always a JSON object.
    pub client_metadata: Option<serde_json::Value>,
    /// `videoMetadata` or `imageMetadata` as given (a JSON object); JSON only.
    pub media_metadata: Option<serde_json::Value>,
}

/// What is wrong with a manifest, and where.
///
/// Displayed as `line 7: objectUrl is missing` (CSV), `images[3]: clientMetadata
/// must be an object` (JSON entry) or `images[3]: line 12, column 5: invalid
/// JSON: …` (JSON syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub message: String,
    /// The CSV line, or the line of a JSON syntax error; 1-based.
    pub line: Option<u64>,
    /// The column (in bytes, 1-based) of a JSON syntax error.
    pub column: Option<u64>,
    /// The 0-based number of the entry at fault.
    pub entry: Option<usize>,
    /// Where in a JSON manifest: `images[3]`, or `images` between entries.
    pub path: Option<String>,
    /// `true` when the manifest cannot be read further: this is the stream's
    /// last item. `false` for a bad entry; the stream goes on after it.
    pub fatal: bool,
}

impl ManifestError {
    fn new(message: impl Into<String>) -> ManifestError {
        ManifestError {
            message: message.into(),
            line: None,
            column: None,
            entry: None,
            path: None,
            fatal: false,
        }
    }

    fn at_line(mut self, line: u64) -> ManifestError {
        self.line = Some(line);
        self
    }

    fn at(mut self, (line, column): (u64, u64)) -> ManifestError {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    fn in_entry(mut self, index: usize) -> ManifestError {
        self.entry = Some(index);
        self
    }

    fn with_path(mut self, path: Option<&str>) -> ManifestError {
        self.path = path.map(str::to_owned);
        self
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ManifestError {}

/// A whole manifest, read by [`parse_all`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedManifest {
    pub entries: Vec<ManifestEntry>,
    /// The JSON manifest's `skip_duplicate_urls`; `None` when absent (and for CSV).
    pub skip_duplicate_urls: Option<bool>,
}

/// Streams the entries of a manifest; see [`ManifestParser`] for an iterator
/// that also reports `skip_duplicate_urls` at the end.
pub fn parse_stream<R: AsyncRead + Unpin + Send>(
    reader: R,
    format: ManifestFormat,
    limits: ManifestLimits,
) -> impl Stream<Item = Result<ManifestEntry, ManifestError>> + Send {
    ManifestParser::new(reader, format, limits).into_stream()
}

/// Reads a whole manifest, all or nothing: the first error, of an entry or of
/// the manifest, wins. Holds every entry in memory; an import of a large
/// manifest should stream it instead.
pub async fn parse_all<R: AsyncRead + Unpin + Send>(
    reader: R,
    format: ManifestFormat,
    limits: ManifestLimits,
) -> Result<ParsedManifest, ManifestError> {
    let mut parser = ManifestParser::new(reader, format, limits);
    let mut entries = Vec::new();
    while let Some(item) = parser.next().await {
        entries.push(item?);
    }
    Ok(ParsedManifest {
        entries,
        skip_duplicate_urls: parser.skip_duplicate_urls(),
    })
}

/// An incremental manifest reader: call [`ManifestParser::next`] until it
/// answers `None`.
pub struct ManifestParser<R> {
    src: Source<R>,
    format: ManifestFormat,
    limits: ManifestLimits,
    started: bool,
    finished: bool,
    /// Entries met so far, good or bad.
    entries: usize,
    /// The current entry: a JSON value as written, or a CSV record's fields
    /// one after another (ending at `ends`).
    buf: Vec<u8>,
    max_buffered: usize,
    skip_duplicate_urls: Option<bool>,
    json: JsonState,
    json_keys: Vec<String>,
    ends: Vec<usize>,
    record_quoted: bool,
    columns: Option<Columns>,
}

/// What `next` does: `Err` is fatal; an inner `Err` is a bad entry.
type Step = Result<Option<Result<ManifestEntry, ManifestError>>, ManifestError>;

impl<R: AsyncRead + Unpin> ManifestParser<R> {
    pub fn new(reader: R, format: ManifestFormat, limits: ManifestLimits) -> ManifestParser<R> {
        ManifestParser {
            src: Source {
                reader: BufReader::with_capacity(READ_BUFFER_BYTES, reader),
                consumed: 0,
                max_bytes: limits.max_bytes,
                line: 1,
                column: 1,
            },
            format,
            limits,
            started: false,
            finished: false,
            entries: 0,
            buf: Vec::new(),
            max_buffered: 0,
            skip_duplicate_urls: None,
            json: JsonState::Start,
            json_keys: Vec::new(),
            ends: Vec::new(),
            record_quoted: false,
            columns: None,
        }
    }

    /// The next entry or error; `None` once the manifest is read or a fatal
    /// error has been returned.
    pub async fn next(&mut self) -> Option<Result<ManifestEntry, ManifestError>> {
        if self.finished {
            return None;
        }
        let step = if self.started {
            Ok(())
        } else {
            self.started = true;
            self.skip_byte_order_mark().await
        };
        let step = match step {
            Ok(()) => match self.format {
                ManifestFormat::Json => self.next_json().await,
                ManifestFormat::Csv => self.next_csv().await,
            },
            Err(e) => Err(e),
        };
        self.max_buffered = self.max_buffered.max(self.buf.capacity());
        if self.buf.capacity() > KEEP_ENTRY_BUFFER_BYTES {
            self.buf.clear();
            self.buf.shrink_to(KEEP_ENTRY_BUFFER_BYTES);
        }
        match step {
            Ok(Some(item)) => Some(item),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(mut e) => {
                e.fatal = true;
                self.finished = true;
                Some(Err(e))
            }
        }
    }

    /// The stream of the remaining entries.
    pub fn into_stream(self) -> impl Stream<Item = Result<ManifestEntry, ManifestError>>
    where
        R: Send,
    {
        futures_util::stream::unfold(self, |mut parser| async move {
            let item = parser.next().await?;
            Some((item, parser))
        })
    }

    /// The JSON manifest's `skip_duplicate_urls`, known once `next` has
    /// answered `None` (it may follow the arrays).
    pub fn skip_duplicate_urls(&self) -> Option<bool> {
        self.skip_duplicate_urls
    }

    /// Bytes of the manifest read so far.
    pub fn bytes_read(&self) -> u64 {
        self.src.consumed
    }

    /// The most memory the entry buffer has held (its capacity), in bytes; the
    /// read buffer adds [`READ_BUFFER_BYTES`].
    pub fn max_buffered(&self) -> usize {
        self.max_buffered
    }

    fn count_entry(&mut self) -> Result<usize, ManifestError> {
        if self.entries >= self.limits.max_entries {
            return Err(ManifestError::new(format!(
                "the manifest lists more than {} entries, the limit (max_entries)",
                self.limits.max_entries
            )));
        }
        self.entries += 1;
        Ok(self.entries - 1)
    }

    async fn skip_byte_order_mark(&mut self) -> Result<(), ManifestError> {
        for (i, expected) in [0xEF, 0xBB, 0xBF].into_iter().enumerate() {
            match self.src.peek().await? {
                Some(b) if b == expected => self.src.consume(1),
                _ if i == 0 => return Ok(()),
                _ => return Err(ManifestError::new("the manifest is not UTF-8 text")),
            }
        }
        self.src.column = 1;
        Ok(())
    }

    // ---- JSON ----

    async fn next_json(&mut self) -> Step {
        loop {
            self.src.skip_whitespace().await?;
            let next = self.src.peek().await?;
            match self.json {
                JsonState::Start => match next {
                    None => return Err(ManifestError::new("the manifest is empty")),
                    Some(b'{') => {
                        self.src.consume(1);
                        self.json = JsonState::Key { first: true };
                    }
                    Some(_) => {
                        return Err(self.here("the manifest must be a JSON object, starting with {"))
                    }
                },
                JsonState::Key { first } => match next {
                    Some(b'}') if first => {
                        self.src.consume(1);
                        self.json = JsonState::End;
                    }
                    Some(b'"') => self.json_key().await?,
                    None => return Err(self.unexpected_end(None)),
                    Some(_) => return Err(self.here("expected a key in double quotes")),
                },
                JsonState::AfterValue => match next {
                    Some(b',') => {
                        self.src.consume(1);
                        self.json = JsonState::Key { first: false };
                    }
                    Some(b'}') => {
                        self.src.consume(1);
                        self.json = JsonState::End;
                    }
                    None => return Err(self.unexpected_end(None)),
                    Some(_) => return Err(self.here("expected , or } after a value")),
                },
                JsonState::Item {
                    array,
                    position,
                    first,
                } => match next {
                    Some(b']') if first => {
                        self.src.consume(1);
                        self.json = JsonState::AfterValue;
                    }
                    None => return Err(self.unexpected_end(Some(ARRAYS[array].0))),
                    Some(b']' | b',') => {
                        let path = format!("{}[{position}]", ARRAYS[array].0);
                        return Err(self.here("expected an entry").with_path(Some(&path)));
                    }
                    Some(_) => return self.json_item(array, position).await.map(Some),
                },
                JsonState::AfterItem { array, position } => match next {
                    Some(b',') => {
                        self.src.consume(1);
                        self.json = JsonState::Item {
                            array,
                            position: position + 1,
                            first: false,
                        };
                    }
                    Some(b']') => {
                        self.src.consume(1);
                        self.json = JsonState::AfterValue;
                    }
                    None => return Err(self.unexpected_end(Some(ARRAYS[array].0))),
                    Some(_) => {
                        let path = format!("{}[{position}]", ARRAYS[array].0);
                        return Err(self
                            .here("expected , or ] after the entry")
                            .with_path(Some(&path)));
                    }
                },
                JsonState::End => match next {
                    None => return Ok(None),
                    Some(_) => {
                        return Err(
                            self.here("unexpected data after the end of the manifest object")
                        )
                    }
                },
            }
        }
    }

    /// Reads a top-level key and what follows it up to its value: the start
    /// of an array, or the whole value of `skip_duplicate_urls`.
    async fn json_key(&mut self) -> Result<(), ManifestError> {
        let start = self.src.position();
        self.scan_json_value(None).await?;
        let key: String =
            serde_json::from_slice(&self.buf).map_err(|e| json_syntax(&e, start, None))?;
        self.src.skip_whitespace().await?;
        if self.src.peek().await? != Some(b':') {
            return Err(self.here(format!("expected : after the key {key:?}")));
        }
        self.src.consume(1);
        self.src.skip_whitespace().await?;
        let array = ARRAYS.iter().position(|(name, _)| *name == key);
        if array.is_none() && key != SKIP_DUPLICATE_URLS {
            let names: Vec<&str> = ARRAYS.iter().map(|(name, _)| *name).collect();
            return Err(ManifestError::new(format!(
                "unknown key {key:?}; a manifest holds the arrays {} and {SKIP_DUPLICATE_URLS}",
                names.join(", ")
            ))
            .at(start));
        }
        if self.json_keys.contains(&key) {
            return Err(ManifestError::new(format!("the key {key:?} appears twice")).at(start));
        }
        let value_start = self.src.position();
        let next = self.src.peek().await?;
        match array {
            Some(array) if next == Some(b'[') => {
                self.src.consume(1);
                self.json = JsonState::Item {
                    array,
                    position: 0,
                    first: true,
                };
            }
            _ => {
                if next.is_none() {
                    return Err(self.unexpected_end(None));
                }
                self.scan_json_value(Some(&key)).await?;
                let value: Value = serde_json::from_slice(&self.buf)
                    .map_err(|e| json_syntax(&e, value_start, Some(&key)))?;
                match (value, array) {
                    (Value::Null, _) => {}
                    (Value::Bool(skip), None) => self.skip_duplicate_urls = Some(skip),
                    (_, None) => {
                        return Err(ManifestError::new(format!(
                            "{SKIP_DUPLICATE_URLS} must be true or false"
                        ))
                        .at(value_start))
                    }
                    (_, Some(_)) => {
                        return Err(
                            ManifestError::new(format!("{key} must be an array")).at(value_start)
                        )
                    }
                }
                self.json = JsonState::AfterValue;
            }
        }
        self.json_keys.push(key);
        Ok(())
    }

    async fn json_item(
        &mut self,
        array: usize,
        position: usize,
    ) -> Result<Result<ManifestEntry, ManifestError>, ManifestError> {
        let (name, kind) = ARRAYS[array];
        let path = format!("{name}[{position}]");
        let index = self.count_entry()?;
        let start = self.src.position();
        self.scan_json_value(Some(&path)).await?;
        self.json = JsonState::AfterItem { array, position };
        let value: Value =
            serde_json::from_slice(&self.buf).map_err(|e| json_syntax(&e, start, Some(&path)))?;
        Ok(
            entry_from_json(value, name, kind, index, &self.limits).map_err(|message| {
                ManifestError::new(message)
                    .with_path(Some(&path))
                    .in_entry(index)
            }),
        )
    }

    /// Reads one JSON value into `buf`.
    async fn scan_json_value(&mut self, path: Option<&str>) -> Result<(), ManifestError> {
        match scan_json_value(&mut self.src, &mut self.buf).await {
            Ok(()) => Ok(()),
            Err(ScanError::Read(e)) => Err(e.into()),
            Err(ScanError::End) => Err(self.unexpected_end(path)),
            Err(ScanError::TooLarge) => Err(ManifestError::new(format!(
                "the entry is larger than {MAX_ENTRY_BYTES} bytes, the limit for one entry"
            ))
            .with_path(path)),
        }
    }

    fn here(&self, message: impl Into<String>) -> ManifestError {
        ManifestError::new(message).at(self.src.position())
    }

    fn unexpected_end(&self, path: Option<&str>) -> ManifestError {
        self.here("the manifest ends too early: the JSON is incomplete")
            .with_path(path)
    }

    // ---- CSV ----

    async fn next_csv(&mut self) -> Step {
        loop {
            let Some(line) = self.read_record().await? else {
                return match self.columns {
                    None => Err(ManifestError::new(
                        "the manifest is empty; a CSV manifest starts with a header row such as \
                         objectUrl,title",
                    )),
                    Some(_) => Ok(None),
                };
            };
            if self.record_is_blank() {
                continue;
            }
            match self.columns {
                None => self.columns = Some(self.csv_header(line)?),
                Some(columns) => {
                    let index = self.count_entry()?;
                    return Ok(Some(self.csv_entry(columns, line, index)));
                }
            }
        }
    }

    /// Reads one CSV record into `buf` and `ends`; answers the line it starts
    /// on, or `None` at the end of the manifest.
    async fn read_record(&mut self) -> Result<Option<u64>, ManifestError> {
        self.buf.clear();
        self.ends.clear();
        self.record_quoted = false;
        let start_line = self.src.line;
        let mut line = start_line;
        let mut quote_line = start_line;
        let mut state = CsvField::Start;
        let mut field_start = 0;
        let mut any = false;
        loop {
            let chunk = self.src.fill().await?;
            if chunk.is_empty() {
                if state == CsvField::Quoted {
                    return Err(ManifestError::new(
                        "a quoted field starting on this line is not closed before the end of \
                         the manifest",
                    )
                    .at_line(quote_line));
                }
                if !any {
                    return Ok(None);
                }
                self.ends.push(self.buf.len());
                return Ok(Some(start_line));
            }
            any = true;
            let mut end = None;
            for (i, &b) in chunk.iter().enumerate() {
                match state {
                    CsvField::Start | CsvField::Unquoted => match b {
                        b',' => {
                            self.ends.push(self.buf.len());
                            field_start = self.buf.len();
                            state = CsvField::Start;
                        }
                        b'\n' => {
                            self.ends.push(self.buf.len());
                            end = Some(i + 1);
                            break;
                        }
                        b'\r' => {}
                        b'"' if self.buf[field_start..]
                            .iter()
                            .all(|c| matches!(c, b' ' | b'\t')) =>
                        {
                            self.buf.truncate(field_start);
                            self.record_quoted = true;
                            quote_line = line;
                            state = CsvField::Quoted;
                        }
                        b'"' => {
                            return Err(ManifestError::new(
                                "a quote inside an unquoted field; put the whole field in \
                                 quotes and double each quote inside it",
                            )
                            .at_line(line))
                        }
                        _ => {
                            self.buf.push(b);
                            state = CsvField::Unquoted;
                        }
                    },
                    CsvField::Quoted => match b {
                        b'"' => state = CsvField::QuoteInQuoted,
                        b'\n' => {
                            line += 1;
                            self.buf.push(b);
                        }
                        _ => self.buf.push(b),
                    },
                    CsvField::QuoteInQuoted | CsvField::AfterQuoted => {
                        match b {
                            b'"' if state == CsvField::QuoteInQuoted => {
                                self.buf.push(b'"');
                                state = CsvField::Quoted;
                            }
                            b',' => {
                                self.ends.push(self.buf.len());
                                field_start = self.buf.len();
                                state = CsvField::Start;
                            }
                            b'\n' => {
                                self.ends.push(self.buf.len());
                                end = Some(i + 1);
                                break;
                            }
                            b' ' | b'\t' | b'\r' => state = CsvField::AfterQuoted,
                            _ => return Err(ManifestError::new(
                                "unexpected text after a closing quote; a quoted field ends at \
                                 a comma or the end of the line (double a quote to keep it in \
                                 the field)",
                            )
                            .at_line(line)),
                        }
                    }
                }
            }
            let n = end.unwrap_or(chunk.len());
            self.src.consume(n);
            if self.buf.len() > MAX_ENTRY_BYTES {
                return Err(ManifestError::new(format!(
                    "the record is larger than {MAX_ENTRY_BYTES} bytes, the limit for one entry"
                ))
                .at_line(start_line));
            }
            if end.is_some() {
                return Ok(Some(start_line));
            }
        }
    }

    fn record_is_blank(&self) -> bool {
        !self.record_quoted
            && self.ends.len() == 1
            && self.buf.iter().all(|b| b.is_ascii_whitespace())
    }

    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    fn csv_header(&self, line: u64) -> Result<Columns, ManifestError> {
        let error = |message: String| ManifestError::new(message).at_line(line);
        let (mut url, mut title, mut kind, mut client_metadata) = (None, None, None, None);
        for i in 0..self.ends.len() {
            let name = std::str::from_utf8(self.field(i))
                .map_err(|_| error("the header row is not UTF-8 text".into()))?
                .trim()
                .to_ascii_lowercase();
            let (slot, column) = match name.as_str() {
                "objecturl" | "object_url" => (&mut url, "objectUrl"),
                "title" => (&mut title, "title"),
                "kind" => (&mut kind, "kind"),
                "clientmetadata" | "client_metadata" => (&mut client_metadata, "clientMetadata"),
                _ => continue,
            };
            if slot.replace(i).is_some() {
                return Err(error(format!(
                    "the header row names the {column} column twice"
                )));
            }
        }
        let url = url.ok_or_else(|| {
            error(
                "the header row has no objectUrl column; the first line of a CSV manifest names \
                 its columns: objectUrl (required), title, kind, clientMetadata"
                    .into(),
            )
        })?;
        Ok(Columns {
            count: self.ends.len(),
            url,
            title,
            kind,
            client_metadata,
        })
    }

    fn csv_entry(
        &self,
        columns: Columns,
        line: u64,
        index: usize,
    ) -> Result<ManifestEntry, ManifestError> {
        let build = || -> Result<ManifestEntry, String> {
            if self.ends.len() != columns.count {
                return Err(format!(
                    "the line has {} fields but the header row has {}",
                    self.ends.len(),
                    columns.count
                ));
            }
            let text = |column: Option<usize>, name: &str| -> Result<Option<&str>, String> {
                match column {
                    None => Ok(None),
                    Some(i) => std::str::from_utf8(self.field(i))
                        .map(|t| Some(t.trim()).filter(|t| !t.is_empty()))
                        .map_err(|_| format!("{name} is not UTF-8 text")),
                }
            };
            let url = text(Some(columns.url), "objectUrl")?.unwrap_or("");
            let url = check_url(&self.limits, "objectUrl", url)?;
            let kind = match text(columns.kind, "kind")? {
                Some(given) => {
                    let upper = given.to_ascii_uppercase();
                    KINDS
                        .iter()
                        .find(|k| **k == upper)
                        .ok_or_else(|| {
                            format!(
                                "unknown kind {given:?}; expected one of {}",
                                KINDS.join(", ")
                            )
                        })?
                        .to_string()
                }
                None => kind_from_extension(&url)
                    .ok_or_else(|| {
                        format!(
                            "cannot tell the kind of {url:?} from its extension; add a kind column"
                        )
                    })?
                    .to_owned(),
            };
            let title = title_for(text(columns.title, "title")?, &url)?;
            let client_metadata = match text(columns.client_metadata, "clientMetadata")? {
                None => None,
                Some(json) => match serde_json::from_str::<Value>(json) {
                    Ok(value @ Value::Object(_)) => Some(value),
                    Ok(_) => return Err("clientMetadata must be an object".into()),
                    Err(e) => return Err(format!("clientMetadata is not valid JSON: {e}")),
                },
            };
            Ok(ManifestEntry {
                index,
                line: Some(line),
                kind,
                object_urls: vec![url],
                title,
                client_metadata,
                media_metadata: None,
            })
        };
        build().map_err(|message| ManifestError::new(message).at_line(line).in_entry(index))
    }
}

#[derive(Debug, Clone, Copy)]
enum JsonState {
    /// Before the top-level `{`.
    Start,
    /// Where a key may come: after `{` (`first`) or after `,`.
    Key { first: bool },
    /// After a top-level value.
    AfterValue,
    /// Where an element of `ARRAYS[array]` may come: after `[` or `,`.
    Item {
        array: usize,
        position: usize,
        first: bool,
    },
    /// After element `position` of `ARRAYS[array]`.
    AfterItem { array: usize, position: usize },
    /// After the top-level `}`.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvField {
    Start,
    Unquoted,
    Quoted,
    /// A quote in a quoted field: its end, or the first of a doubled quote.
    QuoteInQuoted,
    /// Blanks after a quoted field.
    AfterQuoted,
}

/// Where the CSV columns are, by field number.
#[derive(Debug, Clone, Copy)]
struct Columns {
    count: usize,
    url: usize,
    title: Option<usize>,
    kind: Option<usize>,
    client_metadata: Option<usize>,
}

/// The manifest's bytes, counted against `max_bytes`, with the line and
/// column of the next one.
struct Source<R> {
    reader: BufReader<R>,
    consumed: u64,
    max_bytes: u64,
    line: u64,
    column: u64,
}

enum ReadError {
    Io(std::io::Error),
    TooLarge(u64),
}

impl From<ReadError> for ManifestError {
    fn from(e: ReadError) -> ManifestError {
        match e {
            ReadError::Io(e) => ManifestError::new(format!("could not read the manifest: {e}")),
            ReadError::TooLarge(max) => ManifestError::new(format!(
                "the manifest is larger than {max} bytes, the limit (max_bytes)"
            )),
        }
    }
}

impl<R: AsyncRead + Unpin> Source<R> {
    /// The buffered bytes, reading more when none are; empty at the end.
    async fn fill(&mut self) -> Result<&[u8], ReadError> {
        let allowed = self.max_bytes.saturating_sub(self.consumed);
        let max_bytes = self.max_bytes;
        let buf = self.reader.fill_buf().await.map_err(ReadError::Io)?;
        if buf.is_empty() {
            return Ok(buf);
        }
        if allowed == 0 {
            return Err(ReadError::TooLarge(max_bytes));
        }
        let n = usize::try_from(allowed).map_or(buf.len(), |allowed| allowed.min(buf.len()));
        Ok(&buf[..n])
    }

    /// Marks the first `n` bytes of the last `fill` read.
    fn consume(&mut self, n: usize) {
        for &b in &self.reader.buffer()[..n] {
            if b == b'\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.reader.consume(n);
        self.consumed += n as u64;
    }

    async fn peek(&mut self) -> Result<Option<u8>, ReadError> {
        Ok(self.fill().await?.first().copied())
    }

    async fn skip_whitespace(&mut self) -> Result<(), ReadError> {
        loop {
            let chunk = self.fill().await?;
            let blanks = chunk
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(chunk.len());
            let done = blanks < chunk.len() || chunk.is_empty();
            self.consume(blanks);
            if done {
                return Ok(());
            }
        }
    }

    fn position(&self) -> (u64, u64) {
        (self.line, self.column)
    }
}

enum ScanError {
    Read(ReadError),
    /// The manifest ends inside the value.
    End,
    TooLarge,
}

impl From<ReadError> for ScanError {
    fn from(e: ReadError) -> ScanError {
        ScanError::Read(e)
    }
}

/// Copies one JSON value, starting at the next byte (not blank), into `out`.
/// Only strings and brackets are followed, to find where the value ends;
/// serde_json checks the rest.
async fn scan_json_value<R: AsyncRead + Unpin>(
    src: &mut Source<R>,
    out: &mut Vec<u8>,
) -> Result<(), ScanError> {
    #[derive(PartialEq)]
    enum Shape {
        Nested,
        Text,
        Scalar,
    }
    out.clear();
    let mut shape = None;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    loop {
        let chunk = src.fill().await?;
        if chunk.is_empty() {
            return if shape == Some(Shape::Scalar) {
                Ok(())
            } else {
                Err(ScanError::End)
            };
        }
        let mut end = None;
        for (i, &b) in chunk.iter().enumerate() {
            let Some(current) = &shape else {
                shape = Some(match b {
                    b'{' | b'[' => {
                        depth = 1;
                        Shape::Nested
                    }
                    b'"' => {
                        in_string = true;
                        Shape::Text
                    }
                    _ => Shape::Scalar,
                });
                if shape == Some(Shape::Scalar) && is_delimiter(b) {
                    end = Some(i);
                    break;
                }
                continue;
            };
            if *current == Shape::Scalar {
                if is_delimiter(b) {
                    end = Some(i);
                    break;
                }
            } else if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if *current == Shape::Text {
                        end = Some(i + 1);
                        break;
                    }
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        let n = end.unwrap_or(chunk.len());
        if out.len() + n > MAX_ENTRY_BYTES {
            return Err(ScanError::TooLarge);
        }
        out.extend_from_slice(&chunk[..n]);
        src.consume(n);
        if end.is_some() {
            return Ok(());
        }
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b',' | b']' | b'}' | b':' | b' ' | b'\t' | b'\n' | b'\r')
}

/// A serde_json syntax error in a value that starts at `start`, placed in
/// the manifest.
fn json_syntax(e: &serde_json::Error, start: (u64, u64), path: Option<&str>) -> ManifestError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    // The value was cut out of the manifest whole, so serde_json's "EOF while
    // parsing" means a truncated token such as `tru`, not the manifest's end.
    let message = if e.is_eof() {
        "incomplete or unknown value"
    } else {
        text.strip_suffix(&suffix).unwrap_or(&text)
    };
    let (line, column) = (e.line() as u64, e.column() as u64);
    let position = if line <= 1 {
        (start.0, start.1 + column.saturating_sub(1))
    } else {
        (start.0 + line - 1, column)
    };
    ManifestError::new(format!("invalid JSON: {message}"))
        .at(position)
        .with_path(path)
}

fn entry_from_json(
    value: Value,
    array: &str,
    kind: &str,
    index: usize,
    limits: &ManifestLimits,
) -> Result<ManifestEntry, String> {
    let Value::Object(mut map) = value else {
        return Err("an entry must be an object".into());
    };
    let object_urls = json_object_urls(&map, array, kind, limits)?;
    let title = match map.get("title") {
        None | Some(Value::Null) => None,
        Some(Value::String(title)) => Some(title.trim()).filter(|t| !t.is_empty()),
        Some(_) => return Err("title must be a string".into()),
    };
    let title = title_for(title, &object_urls[0])?;
    let client_metadata = take_object(&mut map, "clientMetadata")?;
    let video_metadata = take_object(&mut map, "videoMetadata")?;
    let image_metadata = take_object(&mut map, "imageMetadata")?;
    if video_metadata.is_some() && image_metadata.is_some() {
        return Err("give videoMetadata or imageMetadata, not both".into());
    }
    Ok(ManifestEntry {
        index,
        line: None,
        kind: kind.to_owned(),
        object_urls,
        title,
        client_metadata,
        media_metadata: video_metadata.or(image_metadata),
    })
}

fn json_object_urls(
    map: &Map<String, Value>,
    array: &str,
    kind: &str,
    limits: &ManifestLimits,
) -> Result<Vec<String>, String> {
    let numbered_only = matches!(kind, "IMAGE_GROUP" | "IMAGE_SEQUENCE");
    let numbered_allowed = numbered_only || kind == "DICOM_SERIES";
    let has_numbered = map.keys().any(|k| k.starts_with("objectUrl_"));
    let has_single = map.contains_key("objectUrl");
    if numbered_only && has_single {
        return Err(format!(
            "{array} entries list their objects as objectUrl_0, objectUrl_1, …, not objectUrl"
        ));
    }
    if numbered_allowed && has_single && has_numbered {
        return Err("give objectUrl or objectUrl_0, objectUrl_1, …, not both".into());
    }
    if !numbered_allowed || (has_single && !has_numbered) {
        return match map.get("objectUrl") {
            None | Some(Value::Null) => Err("objectUrl is missing".into()),
            Some(Value::String(url)) => Ok(vec![check_url(limits, "objectUrl", url)?]),
            Some(_) => Err("objectUrl must be a string".into()),
        };
    }
    let mut numbered = BTreeMap::new();
    for (key, value) in map {
        let Some(suffix) = key.strip_prefix("objectUrl_") else {
            continue;
        };
        let number = suffix
            .parse::<usize>()
            .ok()
            .filter(|n| n.to_string() == suffix)
            .ok_or_else(|| {
                format!("{key} is not a valid key; number the objects objectUrl_0, objectUrl_1, …")
            })?;
        numbered.insert(number, (key, value));
    }
    if numbered.is_empty() {
        return Err(format!(
            "objectUrl_0 is missing; {array} entries list their objects as objectUrl_0, \
             objectUrl_1, …"
        ));
    }
    let mut urls = Vec::with_capacity(numbered.len());
    for (expected, (number, (key, value))) in numbered.into_iter().enumerate() {
        if number != expected {
            return Err(format!(
                "objectUrl_{expected} is missing; the objectUrl_N keys must run from objectUrl_0 \
                 without gaps"
            ));
        }
        match value {
            Value::String(url) => urls.push(check_url(limits, key, url)?),
            Value::Null => return Err(format!("{key} is missing")),
            _ => return Err(format!("{key} must be a string")),
        }
    }
    Ok(urls)
}

/// Takes `key` out of an entry: absent or `null`, or an object.
fn take_object(map: &mut Map<String, Value>, key: &str) -> Result<Option<Value>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value @ Value::Object(_)) => Ok(Some(value)),
        Some(_) => Err(format!("{key} must be an object")),
    }
}

/// Checks the URL in `field` against the limit and the URL rules.
fn check_url(limits: &ManifestLimits, field: &str, url: &str) -> Result<String, String> {
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
fn title_for(given: Option<&str>, first_url: &str) -> Result<String, String> {
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
fn kind_from_extension(url: &str) -> Option<&'static str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (_, path) = rest.split_once('/')?;
    let name = path.rsplit('/').next()?;
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "bmp" | "tif" | "tiff" => "IMAGE",
        "mp4" | "mov" | "webm" | "mkv" | "avi" => "VIDEO",
        "mp3" | "wav" | "flac" | "ogg" | "m4a" => "AUDIO",
        "txt" | "md" | "json" => "TEXT",
        "pdf" => "PDF",
        "dcm" => "DICOM_SERIES",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use futures_util::StreamExt;
    use serde_json::json;
    use tokio::io::ReadBuf;

    use super::*;

    type Item = Result<ManifestEntry, ManifestError>;

    const CSV: ManifestFormat = ManifestFormat::Csv;
    const JSON: ManifestFormat = ManifestFormat::Json;

    fn limits() -> ManifestLimits {
        ManifestLimits::default()
    }

    /// Hands out `data` at most `step` bytes a read, to cut it everywhere.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self
                .step
                .min(buf.remaining())
                .min(self.data.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.data[start..start + n]);
            self.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    async fn run(
        data: &[u8],
        format: ManifestFormat,
        limits: ManifestLimits,
        step: usize,
    ) -> (Vec<Item>, Option<bool>) {
        let reader = Trickle {
            data: data.to_vec(),
            pos: 0,
            step,
        };
        let mut parser = ManifestParser::new(reader, format, limits);
        let mut items = Vec::new();
        while let Some(item) = parser.next().await {
            items.push(item);
        }
        assert!(
            parser.next().await.is_none(),
            "a finished parser stays finished"
        );
        let fatal = items
            .iter()
            .filter(|i| matches!(i, Err(e) if e.fatal))
            .count();
        assert!(fatal <= 1, "at most one fatal error");
        if fatal == 1 {
            assert!(
                matches!(items.last(), Some(Err(e)) if e.fatal),
                "a fatal error is last"
            );
        }
        (items, parser.skip_duplicate_urls())
    }

    /// Parses `data` in one read and cut into reads of 1, 2, 3, 5 and 8
    /// bytes, which must all agree.
    async fn parse_with(
        data: impl AsRef<[u8]>,
        format: ManifestFormat,
        limits: ManifestLimits,
    ) -> (Vec<Item>, Option<bool>) {
        let data = data.as_ref();
        let whole = run(data, format, limits, usize::MAX).await;
        for step in [1, 2, 3, 5, 8] {
            let cut = run(data, format, limits, step).await;
            assert_eq!(cut, whole, "reading {step} bytes at a time");
        }
        whole
    }

    async fn csv(data: impl AsRef<[u8]>) -> Vec<Item> {
        parse_with(data, CSV, limits()).await.0
    }

    async fn json(data: impl AsRef<[u8]>) -> Vec<Item> {
        parse_with(data, JSON, limits()).await.0
    }

    /// Each item in short: `KIND title <- urls`, or the error as displayed,
    /// marked `(fatal)` when it ends the stream.
    fn shown(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                Ok(e) => format!("{} {} <- {}", e.kind, e.title, e.object_urls.join(" ")),
                Err(e) if e.fatal => format!("{e} (fatal)"),
                Err(e) => e.to_string(),
            })
            .collect()
    }

    fn ok(items: Vec<Item>) -> Vec<ManifestEntry> {
        items
            .into_iter()
            .map(|item| item.unwrap_or_else(|e| panic!("unexpected error: {e}")))
            .collect()
    }

    fn entry(index: usize, line: Option<u64>, kind: &str, url: &str, title: &str) -> ManifestEntry {
        ManifestEntry {
            index,
            line,
            kind: kind.into(),
            object_urls: vec![url.into()],
            title: title.into(),
            client_metadata: None,
            media_metadata: None,
        }
    }

    // ---- CSV ----

    #[tokio::test]
    async fn csv_rows_become_entries_with_default_titles_and_inferred_kinds() {
        let text =
            "objectUrl,title\ns3://bucket/cats/1.jpg,Cat one\ngs://bucket/videos/clip.mp4,\n";
        assert_eq!(
            ok(csv(text).await),
            [
                entry(0, Some(2), "IMAGE", "s3://bucket/cats/1.jpg", "Cat one"),
                entry(
                    1,
                    Some(3),
                    "VIDEO",
                    "gs://bucket/videos/clip.mp4",
                    "videos/clip.mp4"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn csv_header_names_ignore_case_and_accept_snake_case() {
        for header in [
            "objectUrl,title,kind,clientMetadata",
            "OBJECTURL,TITLE,KIND,CLIENTMETADATA",
            "object_url,Title,Kind,client_metadata",
            " Object_URL , title ,kind, Client_Metadata ",
        ] {
            let text = format!("{header}\ns3://b/x.bin,X,video,\"{{\"\"a\"\": 1}}\"\n");
            let entries = ok(csv(&text).await);
            assert_eq!(entries.len(), 1, "{header}");
            assert_eq!(entries[0].kind, "VIDEO", "{header}");
            assert_eq!(entries[0].title, "X", "{header}");
            assert_eq!(
                entries[0].client_metadata,
                Some(json!({"a": 1})),
                "{header}"
            );
        }
    }

    #[tokio::test]
    async fn csv_columns_come_in_any_order_and_unknown_ones_are_ignored() {
        let items = csv("notes,kind,Object_Url,extra\nhello,image,s3://b/photos/x,1\n").await;
        assert_eq!(shown(&items), ["IMAGE photos/x <- s3://b/photos/x"]);
    }

    #[tokio::test]
    async fn csv_quoting_follows_rfc_4180() {
        let text = "objectUrl,title,clientMetadata\n\
            s3://b/1.jpg,\"Hello, world\",\"{\"\"tags\"\": [\"\"a\"\", \"\"b,c\"\"], \"\"n\"\": 1}\"\n\
            s3://b/2.jpg,\"say \"\"hi\"\"\",\n\
            s3://b/3.jpg,\"two\nlines\",\n\
            s3://b/4.jpg,\"\",\n\
            \"s3://b/5.jpg\" , \"spaced\" ,\n\
            \"s3://b/6.jpg\",\"\"\"quoted\"\"\",\"{}\"\n";
        let entries = ok(csv(text).await);
        let summary: Vec<(usize, Option<u64>, &str, &str)> = entries
            .iter()
            .map(|e| (e.index, e.line, e.object_urls[0].as_str(), e.title.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (0, Some(2), "s3://b/1.jpg", "Hello, world"),
                (1, Some(3), "s3://b/2.jpg", "say \"hi\""),
                (2, Some(4), "s3://b/3.jpg", "two\nlines"),
                (3, Some(6), "s3://b/4.jpg", "4.jpg"),
                (4, Some(7), "s3://b/5.jpg", "spaced"),
                (5, Some(8), "s3://b/6.jpg", "\"quoted\""),
            ]
        );
        assert_eq!(
            entries[0].client_metadata,
            Some(json!({"tags": ["a", "b,c"], "n": 1}))
        );
        assert_eq!(entries[1].client_metadata, None);
        assert_eq!(entries[5].client_metadata, Some(json!({})));
    }

    #[tokio::test]
    async fn csv_accepts_crlf_a_byte_order_mark_and_a_last_line_without_newline() {
        let text = "\u{FEFF}objectUrl,Title\r\ns3://b/a.png,A\r\ns3://b/b.png,\"B\r\nC\"\r\ns3://b/c.png,\"D\"";
        let entries = ok(csv(text).await);
        let summary: Vec<(Option<u64>, &str)> =
            entries.iter().map(|e| (e.line, e.title.as_str())).collect();
        assert_eq!(
            summary,
            [(Some(2), "A"), (Some(3), "B\r\nC"), (Some(5), "D")]
        );
        let items = csv("objectUrl\ns3://b/a.jpg").await;
        assert_eq!(shown(&items), ["IMAGE a.jpg <- s3://b/a.jpg"]);
    }

    #[tokio::test]
    async fn csv_blank_lines_are_skipped() {
        let text = "\n\nobjectUrl\n\ns3://b/a.pdf\n   \n\t\r\ns3://b/b.pdf\n\n";
        assert_eq!(
            ok(csv(text).await),
            [
                entry(0, Some(5), "PDF", "s3://b/a.pdf", "a.pdf"),
                entry(1, Some(8), "PDF", "s3://b/b.pdf", "b.pdf"),
            ]
        );
        let text = "objectUrl,title\n  \r\ns3://b/a.pdf,A\n";
        assert_eq!(
            ok(csv(text).await),
            [entry(0, Some(3), "PDF", "s3://b/a.pdf", "A")]
        );
    }

    #[tokio::test]
    async fn csv_kind_is_inferred_from_the_extension() {
        let table = [
            ("jpg", "IMAGE"),
            ("jpeg", "IMAGE"),
            ("png", "IMAGE"),
            ("gif", "IMAGE"),
            ("webp", "IMAGE"),
            ("bmp", "IMAGE"),
            ("tif", "IMAGE"),
            ("tiff", "IMAGE"),
            ("mp4", "VIDEO"),
            ("mov", "VIDEO"),
            ("webm", "VIDEO"),
            ("mkv", "VIDEO"),
            ("avi", "VIDEO"),
            ("mp3", "AUDIO"),
            ("wav", "AUDIO"),
            ("flac", "AUDIO"),
            ("ogg", "AUDIO"),
            ("m4a", "AUDIO"),
            ("txt", "TEXT"),
            ("md", "TEXT"),
            ("json", "TEXT"),
            ("pdf", "PDF"),
            ("dcm", "DICOM_SERIES"),
        ];
        let mut text = String::from("objectUrl\n");
        for (extension, _) in table {
            let upper = extension.to_uppercase();
            text += &format!("s3://b/dir/file.{extension}\nhttps://h.example/DIR/FILE.{upper}\n");
        }
        let entries = ok(csv(&text).await);
        let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        let expected: Vec<&str> = table.iter().flat_map(|(_, kind)| [*kind, *kind]).collect();
        assert_eq!(kinds, expected);

        let text = "objectUrl\n\
            https://h.example/a/b.mp4?sig=x.png#frag.pdf\n\
            s3://b/noext\n\
            s3://b/archive.tar.gz\n\
            s3://b/dir.jpg/file\n\
            https://cdn.example.png\n\
            https://h.example/a.jpg/\n";
        let hint = "from its extension; add a kind column";
        assert_eq!(
            shown(&csv(text).await),
            [
                "VIDEO a/b.mp4 <- https://h.example/a/b.mp4?sig=x.png#frag.pdf".to_owned(),
                format!("line 3: cannot tell the kind of \"s3://b/noext\" {hint}"),
                format!("line 4: cannot tell the kind of \"s3://b/archive.tar.gz\" {hint}"),
                format!("line 5: cannot tell the kind of \"s3://b/dir.jpg/file\" {hint}"),
                format!("line 6: cannot tell the kind of \"https://cdn.example.png\" {hint}"),
                format!("line 7: cannot tell the kind of \"https://h.example/a.jpg/\" {hint}"),
            ]
        );
    }

    #[tokio::test]
    async fn csv_kind_column_wins_over_the_extension_in_any_case() {
        let text = "objectUrl,kind\n\
            s3://b/a.bin,video\n\
            s3://b/b.jpg,\n\
            s3://b/c.jpg,  Image_Group \n\
            s3://b/d.jpg,picture\n\
            s3://b/e.zzz,\n";
        assert_eq!(
            shown(&csv(text).await),
            [
                "VIDEO a.bin <- s3://b/a.bin",
                "IMAGE b.jpg <- s3://b/b.jpg",
                "IMAGE_GROUP c.jpg <- s3://b/c.jpg",
                "line 5: unknown kind \"picture\"; expected one of IMAGE, VIDEO, IMAGE_GROUP, \
                 IMAGE_SEQUENCE, DICOM_SERIES, AUDIO, TEXT, PDF",
                "line 6: cannot tell the kind of \"s3://b/e.zzz\" from its extension; add a kind \
                 column",
            ]
        );
    }

    #[tokio::test]
    async fn csv_bad_lines_are_entry_errors_and_the_stream_goes_on() {
        let long_title = "t".repeat(TITLE_MAX + 1);
        let mut text = format!(
            "objectUrl,title,clientMetadata\n\
             ,no url,\n\
             \"\",quoted empty,\n\
             not a url,,\n\
             ftp://b/a.jpg,,\n\
             s3://b/a.jpg,too,many,fields\n\
             s3://b/a.jpg,one field\n\
             s3://b/a.jpg,,{{oops\n\
             s3://b/a.jpg,,\"[1, 2]\"\n\
             s3://b/a.jpg,{long_title},\n"
        )
        .into_bytes();
        text.extend_from_slice(b"s3://b/a.jpg,caf\xE9,\n");
        text.extend_from_slice(b"s3://b/last.jpg,Last,\n");
        let items = csv(&text).await;
        assert_eq!(
            shown(&items),
            [
                "line 2: objectUrl is missing",
                "line 3: objectUrl is missing",
                "line 4: objectUrl \"not a url\" is not a URL",
                "line 5: objectUrl \"ftp://b/a.jpg\" must be a URL with one of the schemes s3, gs, \
                 az, azure, http, https, file, local",
                "line 6: the line has 4 fields but the header row has 3",
                "line 7: the line has 2 fields but the header row has 3",
                "line 8: clientMetadata is not valid JSON: key must be a string at line 1 column 2",
                "line 9: clientMetadata must be an object",
                "line 10: title must be at most 200 characters",
                "line 11: title is not UTF-8 text",
                "IMAGE Last <- s3://b/last.jpg",
            ]
        );
        for (index, item) in items.iter().enumerate() {
            match item {
                Err(e) => {
                    assert_eq!(e.entry, Some(index));
                    assert_eq!(e.line, Some(index as u64 + 2));
                    assert!(!e.fatal);
                }
                Ok(e) => assert_eq!(e.index, index),
            }
        }
    }

    #[tokio::test]
    async fn csv_unreadable_manifests_end_with_one_fatal_error() {
        let empty = "the manifest is empty; a CSV manifest starts with a header row such as \
                     objectUrl,title (fatal)";
        let no_url_column = "line 1: the header row has no objectUrl column; the first line of a \
                             CSV manifest names its columns: objectUrl (required), title, kind, \
                             clientMetadata (fatal)";
        let cases: [(&str, &[&str]); 9] = [
            ("", &[empty]),
            ("\n \r\n", &[empty]),
            ("objectUrl\n", &[]),
            ("title,kind\ns3://b/a.jpg,IMAGE\n", &[no_url_column]),
            ("s3://b/a.jpg\ns3://b/b.jpg\n", &[no_url_column]),
            (
                "objectUrl,title,OBJECT_URL\n",
                &["line 1: the header row names the objectUrl column twice (fatal)"],
            ),
            (
                "objectUrl,title\ns3://b/a.jpg,ok\ns3://b/b.jpg,\"never\nclosed\ns3://b/c.jpg,x\n",
                &[
                    "IMAGE ok <- s3://b/a.jpg",
                    "line 3: a quoted field starting on this line is not closed before the end of \
                     the manifest (fatal)",
                ],
            ),
            (
                "objectUrl,title\ns3://b/a.jpg,say \"hi\"\ns3://b/b.jpg,x\n",
                &["line 2: a quote inside an unquoted field; put the whole field in quotes and \
                   double each quote inside it (fatal)"],
            ),
            (
                "objectUrl,title\ns3://b/a.jpg,\"multi\nline\"x\ns3://b/b.jpg,x\n",
                &["line 3: unexpected text after a closing quote; a quoted field ends at a comma \
                   or the end of the line (double a quote to keep it in the field) (fatal)"],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(shown(&csv(text).await), expected, "{text:?}");
        }
    }

    // ---- JSON ----

    const EVERY_ARRAY: &str = r#"{
      "pdf": [{"objectUrl": "s3://b/doc.pdf"}],
      "videos": [{"objectUrl": "s3://b/v.mp4"}],
      "images": [{"objectUrl": "s3://b/i.jpg"}, {"objectUrl": "s3://b/i2.jpg", "title": "  Second  "}],
      "image_groups": [{"objectUrl_0": "s3://b/g/0.jpg", "objectUrl_1": "s3://b/g/1.jpg"}],
      "image_sequences": [{"objectUrl_0": "s3://b/s/0.jpg"}],
      "dicom_series": [
        {"objectUrl_0": "s3://b/ct/1.dcm", "objectUrl_1": "s3://b/ct/2.dcm"},
        {"objectUrl": "s3://b/ct/one.dcm"}
      ],
      "audio": [{"objectUrl": "s3://b/a.wav"}],
      "text": [{"objectUrl": "s3://b/t.txt"}],
      "skip_duplicate_urls": false
    }"#;

    #[tokio::test]
    async fn json_each_array_decides_the_kind_in_document_order() {
        let (items, skip) = parse_with(EVERY_ARRAY, JSON, limits()).await;
        assert_eq!(
            shown(&items),
            [
                "PDF doc.pdf <- s3://b/doc.pdf",
                "VIDEO v.mp4 <- s3://b/v.mp4",
                "IMAGE i.jpg <- s3://b/i.jpg",
                "IMAGE Second <- s3://b/i2.jpg",
                "IMAGE_GROUP g/0.jpg <- s3://b/g/0.jpg s3://b/g/1.jpg",
                "IMAGE_SEQUENCE s/0.jpg <- s3://b/s/0.jpg",
                "DICOM_SERIES ct/1.dcm <- s3://b/ct/1.dcm s3://b/ct/2.dcm",
                "DICOM_SERIES ct/one.dcm <- s3://b/ct/one.dcm",
                "AUDIO a.wav <- s3://b/a.wav",
                "TEXT t.txt <- s3://b/t.txt",
            ]
        );
        let entries = ok(items);
        assert!(entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == i && e.line.is_none()));
        assert_eq!(skip, Some(false));
        let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        assert!(
            KINDS.iter().all(|k| kinds.contains(k)),
            "every kind has its array"
        );
    }

    #[tokio::test]
    async fn json_metadata_is_kept_as_given() {
        let text = r#"{
          "videos": [{"objectUrl": "s3://b/v.mp4", "clientMetadata": {"k": [1, {"x": null}]},
                      "videoMetadata": {"fps": 29.97, "width": 1920}}],
          "images": [{"objectUrl": "s3://b/i.jpg", "imageMetadata": {"width": 640},
                      "clientMetadata": null, "videoMetadata": null, "other": "ignored"}]
        }"#;
        let entries = ok(json(text).await);
        assert_eq!(
            entries[0].client_metadata,
            Some(json!({"k": [1, {"x": null}]}))
        );
        assert_eq!(
            entries[0].media_metadata,
            Some(json!({"fps": 29.97, "width": 1920}))
        );
        assert_eq!(entries[1].client_metadata, None);
        assert_eq!(entries[1].media_metadata, Some(json!({"width": 640})));
    }

    #[tokio::test]
    async fn json_bad_entries_are_entry_errors_and_the_stream_goes_on() {
        let text = r#"{"images": [
            {"objectUrl": "s3://b/0.jpg"},
            {"title": "no url"},
            {"objectUrl": 5},
            {"objectUrl": "s3://b/3.jpg", "clientMetadata": [1]},
            {"objectUrl": "s3://b/4.jpg", "title": 7},
            {"objectUrl": "s3://b/5.jpg", "imageMetadata": "x"},
            {"objectUrl": "s3://b/6.jpg", "videoMetadata": {}, "imageMetadata": {}},
            "s3://b/7.jpg",
            {"objectUrl": "nope"},
            {"objectUrl": "  "},
            true, 12, null,
            {"objectUrl": "s3://b/13.jpg", "title": "   "}
          ],
          "dicom_series": [{"objectUrl": "s3://b/x.dcm", "objectUrl_0": "s3://b/y.dcm"}]
        }"#;
        let items = json(text).await;
        assert_eq!(
            shown(&items),
            [
                "IMAGE 0.jpg <- s3://b/0.jpg",
                "images[1]: objectUrl is missing",
                "images[2]: objectUrl must be a string",
                "images[3]: clientMetadata must be an object",
                "images[4]: title must be a string",
                "images[5]: imageMetadata must be an object",
                "images[6]: give videoMetadata or imageMetadata, not both",
                "images[7]: an entry must be an object",
                "images[8]: objectUrl \"nope\" is not a URL",
                "images[9]: objectUrl is missing",
                "images[10]: an entry must be an object",
                "images[11]: an entry must be an object",
                "images[12]: an entry must be an object",
                "IMAGE 13.jpg <- s3://b/13.jpg",
                "dicom_series[0]: give objectUrl or objectUrl_0, objectUrl_1, …, not both",
            ]
        );
        for (index, item) in items.iter().enumerate() {
            if let Err(e) = item {
                assert_eq!((e.entry, e.line, e.fatal), (Some(index), None, false));
            }
        }
    }

    #[tokio::test]
    async fn json_groups_list_object_url_n_in_numeric_order() {
        let mut group = serde_json::Map::new();
        for i in (0..11).rev() {
            group.insert(format!("objectUrl_{i}"), json!(format!("s3://b/g/{i}.jpg")));
        }
        group.insert("title".into(), json!("Eleven"));
        let text = json!({
            "image_groups": [group],
            "image_sequences": [{"objectUrl_0": "s3://b/h/0.jpg", "createVideo": true}],
        })
        .to_string();
        let entries = ok(json(text).await);
        let urls: Vec<String> = (0..11).map(|i| format!("s3://b/g/{i}.jpg")).collect();
        assert_eq!(entries[0].object_urls, urls);
        assert_eq!(
            (entries[0].kind.as_str(), entries[0].title.as_str()),
            ("IMAGE_GROUP", "Eleven")
        );
        assert_eq!(entries[1].object_urls, ["s3://b/h/0.jpg"]);
        assert_eq!(entries[1].title, "h/0.jpg");
    }

    #[tokio::test]
    async fn json_group_keys_must_run_from_object_url_0_without_gaps() {
        let text = r#"{"image_groups": [
            {},
            {"objectUrl_0": "s3://b/0.jpg", "objectUrl_2": "s3://b/2.jpg"},
            {"objectUrl": "s3://b/x.jpg"},
            {"objectUrl_0": "s3://b/0.jpg", "objectUrl_01": "s3://b/1.jpg"},
            {"objectUrl_1": "s3://b/1.jpg"},
            {"objectUrl_0": "bad"},
            {"objectUrl_0": 3},
            {"objectUrl_0": "s3://b/0.jpg", "objectUrl_1": null}
          ],
          "image_sequences": [{"title": "none"}]
        }"#;
        assert_eq!(
            shown(&json(text).await),
            [
                "image_groups[0]: objectUrl_0 is missing; image_groups entries list their objects \
                 as objectUrl_0, objectUrl_1, …",
                "image_groups[1]: objectUrl_1 is missing; the objectUrl_N keys must run from \
                 objectUrl_0 without gaps",
                "image_groups[2]: image_groups entries list their objects as objectUrl_0, \
                 objectUrl_1, …, not objectUrl",
                "image_groups[3]: objectUrl_01 is not a valid key; number the objects \
                 objectUrl_0, objectUrl_1, …",
                "image_groups[4]: objectUrl_0 is missing; the objectUrl_N keys must run from \
                 objectUrl_0 without gaps",
                "image_groups[5]: objectUrl_0 \"bad\" is not a URL",
                "image_groups[6]: objectUrl_0 must be a string",
                "image_groups[7]: objectUrl_1 is missing",
                "image_sequences[0]: objectUrl_0 is missing; image_sequences entries list their \
                 objects as objectUrl_0, objectUrl_1, …",
            ]
        );
    }

    #[tokio::test]
    async fn json_skip_duplicate_urls_may_come_before_or_after_the_arrays() {
        let cases = [
            (
                r#"{"skip_duplicate_urls": true, "images": [{"objectUrl": "s3://b/a.jpg"}]}"#,
                Some(true),
            ),
            (
                r#"{"images": [{"objectUrl": "s3://b/a.jpg"}], "skip_duplicate_urls": false}"#,
                Some(false),
            ),
            (r#"{"images": [{"objectUrl": "s3://b/a.jpg"}]}"#, None),
            (
                r#"{"skip_duplicate_urls": null, "images": [{"objectUrl": "s3://b/a.jpg"}]}"#,
                None,
            ),
        ];
        for (text, expected) in cases {
            let (items, skip) = parse_with(text, JSON, limits()).await;
            assert_eq!(shown(&items), ["IMAGE a.jpg <- s3://b/a.jpg"], "{text}");
            assert_eq!(skip, expected, "{text}");
        }
        assert_eq!(
            shown(&json(r#"{"skip_duplicate_urls": "yes"}"#).await),
            ["line 1, column 25: skip_duplicate_urls must be true or false (fatal)"]
        );
        assert_eq!(
            shown(&json(r#"{"skip_duplicate_urls": true, "skip_duplicate_urls": true}"#).await),
            ["line 1, column 31: the key \"skip_duplicate_urls\" appears twice (fatal)"]
        );
    }

    #[tokio::test]
    async fn json_syntax_errors_name_the_entry_line_and_column() {
        let text = "{\n  \"images\": [\n    {\"objectUrl\": \"s3://b/0.jpg\"},\n    {\"objectUrl\": \"s3://b/1.jpg\",}\n  ]\n}\n";
        assert_eq!(
            shown(&json(text).await),
            [
                "IMAGE 0.jpg <- s3://b/0.jpg",
                "images[1]: line 4, column 34: invalid JSON: trailing comma (fatal)",
            ]
        );
        let text = "{\"images\": [\n  {\n    \"objectUrl\": \"s3://b/0.jpg\"\n    \"title\": \"no comma\"\n  }\n]}";
        let items = json(text).await;
        assert_eq!(
            shown(&items),
            ["images[0]: line 4, column 5: invalid JSON: expected `,` or `}` (fatal)"]
        );
        let Err(e) = &items[0] else { unreachable!() };
        assert_eq!(
            (e.line, e.column, e.entry, e.path.as_deref()),
            (Some(4), Some(5), None, Some("images[0]"))
        );
        let cases: [(&str, &[&str]); 8] = [
            (
                r#"{"images": [{"objectUrl": "s3://b/a.jpg"]]}"#,
                &["images[0]: line 1, column 41: invalid JSON: expected `,` or `}` (fatal)"],
            ),
            (
                r#"{"images": [{"objectUrl": "s3://b/a.jpg"}}"#,
                &[
                    "IMAGE a.jpg <- s3://b/a.jpg",
                    "images[0]: line 1, column 42: expected , or ] after the entry (fatal)",
                ],
            ),
            (
                r#"{"images": [{"objectUrl": "s3://b/a.jpg"},]}"#,
                &["IMAGE a.jpg <- s3://b/a.jpg", "images[1]: line 1, column 43: expected an entry (fatal)"],
            ),
            (
                r#"{"images": [, {"objectUrl": "s3://b/a.jpg"}]}"#,
                &["images[0]: line 1, column 13: expected an entry (fatal)"],
            ),
            (
                r#"{"images": [{"objectUrl": "s3://b/a.jpg"}] "videos": []}"#,
                &["IMAGE a.jpg <- s3://b/a.jpg", "line 1, column 44: expected , or } after a value (fatal)"],
            ),
            (
                r#"{"images": [{"objectUrl": "s3://b/a.jpg"}"#,
                &[
                    "IMAGE a.jpg <- s3://b/a.jpg",
                    "images: line 1, column 42: the manifest ends too early: the JSON is incomplete (fatal)",
                ],
            ),
            (
                r#"{"images": [{"objectUrl": "s3://b/a"#,
                &["images[0]: line 1, column 36: the manifest ends too early: the JSON is incomplete (fatal)"],
            ),
            (
                r#"{"images": [tru]}"#,
                &["images[0]: line 1, column 15: invalid JSON: incomplete or unknown value (fatal)"],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(shown(&json(text).await), expected, "{text}");
        }
    }

    #[tokio::test]
    async fn json_the_top_level_must_be_one_object_of_known_keys() {
        let arrays =
            "videos, images, image_groups, image_sequences, dicom_series, audio, text, pdf";
        let cases: [(&str, String); 14] = [
            ("", "the manifest is empty (fatal)".into()),
            (" \n\t", "the manifest is empty (fatal)".into()),
            (
                r#"[{"objectUrl": "s3://b/a.jpg"}]"#,
                "line 1, column 1: the manifest must be a JSON object, starting with { (fatal)".into(),
            ),
            (
                "\u{FEFF}\n  \"x\"",
                "line 2, column 3: the manifest must be a JSON object, starting with { (fatal)".into(),
            ),
            ("{} x", "line 1, column 4: unexpected data after the end of the manifest object (fatal)".into()),
            ("{}{}", "line 1, column 3: unexpected data after the end of the manifest object (fatal)".into()),
            (r#"{"images": [],}"#, "line 1, column 15: expected a key in double quotes (fatal)".into()),
            ("{images: []}", "line 1, column 2: expected a key in double quotes (fatal)".into()),
            (r#"{"images" []}"#, "line 1, column 11: expected : after the key \"images\" (fatal)".into()),
            (
                r#"{"image": []}"#,
                format!("line 1, column 2: unknown key \"image\"; a manifest holds the arrays {arrays} and skip_duplicate_urls (fatal)"),
            ),
            (r#"{"images": [], "images": []}"#, "line 1, column 16: the key \"images\" appears twice (fatal)".into()),
            (r#"{"images": {"objectUrl": "s3://b/a.jpg"}}"#, "line 1, column 12: images must be an array (fatal)".into()),
            (r#"{"images": "s3://b/a.jpg"}"#, "line 1, column 12: images must be an array (fatal)".into()),
            (r#"{"ima\qes": []}"#, "line 1, column 7: invalid JSON: invalid escape (fatal)".into()),
        ];
        for (text, expected) in cases {
            assert_eq!(shown(&json(text).await), [expected], "{text}");
        }
        for text in [
            "{}",
            " { } \n",
            r#"{"images": null, "videos": []}"#,
            r#"{"images": [ ]}"#,
        ] {
            assert_eq!(json(text).await, [], "{text}");
        }
    }

    #[tokio::test]
    async fn json_strings_may_hold_brackets_quotes_and_escapes() {
        let text = r#"{"images": [
            {"objectUrl": "s3://b/a\/b.jpg", "title": "] } [ { \" \\",
             "clientMetadata": {"nested": [{"a": "]"}, [1, [2]]], "s": "\u00e9\"}"}},
            {"objectUrl": "s3://b/\u00e9.jpg"},
            {"objectUrl": "s3://b/c.jpg", "title": "日本語"}
        ]}"#;
        let entries = ok(json(text).await);
        assert_eq!(entries[0].object_urls, ["s3://b/a/b.jpg"]);
        assert_eq!(entries[0].title, r#"] } [ { " \"#);
        assert_eq!(
            entries[0].client_metadata,
            Some(json!({"nested": [{"a": "]"}, [1, [2]]], "s": "é\"}"}))
        );
        assert_eq!(
            (
                entries[1].object_urls[0].as_str(),
                entries[1].title.as_str()
            ),
            ("s3://b/é.jpg", "é.jpg")
        );
        assert_eq!(entries[2].title, "日本語");
    }

    #[tokio::test]
    async fn json_whitespace_and_a_byte_order_mark_are_allowed_anywhere_between_tokens() {
        let spaced = "\u{FEFF} \r\n\t{ \n \"images\" \t:\r\n [ \n {\"objectUrl\":\"s3://b/a.jpg\"} \n , \n {\"objectUrl\":\"s3://b/b.jpg\"}\n ] \n , \"skip_duplicate_urls\" : true \n } \n\n";
        let compact = r#"{"images":[{"objectUrl":"s3://b/a.jpg"},{"objectUrl":"s3://b/b.jpg"}],"skip_duplicate_urls":true}"#;
        for text in [spaced, compact] {
            let (items, skip) = parse_with(text, JSON, limits()).await;
            assert_eq!(
                shown(&items),
                ["IMAGE a.jpg <- s3://b/a.jpg", "IMAGE b.jpg <- s3://b/b.jpg"]
            );
            assert_eq!(skip, Some(true));
        }
    }

    // ---- limits ----

    #[tokio::test]
    async fn limits_max_entries_counts_every_entry() {
        let limits = ManifestLimits {
            max_entries: 2,
            ..ManifestLimits::default()
        };
        let over = "the manifest lists more than 2 entries, the limit (max_entries) (fatal)";
        let cases: [(ManifestFormat, &str, &[&str]); 5] = [
            (
                CSV,
                "objectUrl\ns3://b/1.jpg\ns3://b/2.jpg\n",
                &["IMAGE 1.jpg <- s3://b/1.jpg", "IMAGE 2.jpg <- s3://b/2.jpg"],
            ),
            (
                CSV,
                "objectUrl\ns3://b/1.jpg\ns3://b/2.jpg\ns3://b/3.jpg\n",
                &[
                    "IMAGE 1.jpg <- s3://b/1.jpg",
                    "IMAGE 2.jpg <- s3://b/2.jpg",
                    over,
                ],
            ),
            (
                CSV,
                "objectUrl\n\ns3://b/1.jpg\n\"\"\n\ns3://b/3.jpg\n",
                &[
                    "IMAGE 1.jpg <- s3://b/1.jpg",
                    "line 4: objectUrl is missing",
                    over,
                ],
            ),
            (
                JSON,
                r#"{"videos": [{"objectUrl": "s3://b/v.mp4"}], "images": [{"objectUrl": "s3://b/1.jpg"}]}"#,
                &["VIDEO v.mp4 <- s3://b/v.mp4", "IMAGE 1.jpg <- s3://b/1.jpg"],
            ),
            (
                JSON,
                r#"{"videos": [{"objectUrl": "s3://b/v.mp4"}], "images": [{"objectUrl": "s3://b/1.jpg"}, {"objectUrl": "s3://b/2.jpg"}]}"#,
                &[
                    "VIDEO v.mp4 <- s3://b/v.mp4",
                    "IMAGE 1.jpg <- s3://b/1.jpg",
                    over,
                ],
            ),
        ];
        for (format, text, expected) in cases {
            assert_eq!(
                shown(&parse_with(text, format, limits).await.0),
                expected,
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn limits_max_url_len_is_checked_for_every_url() {
        let limits = ManifestLimits {
            max_url_len: "s3://b/abc.jpg".len(),
            ..ManifestLimits::default()
        };
        let (items, _) =
            parse_with("objectUrl\ns3://b/abc.jpg\ns3://b/abcd.jpg\n", CSV, limits).await;
        assert_eq!(
            shown(&items),
            [
                "IMAGE abc.jpg <- s3://b/abc.jpg",
                "line 3: objectUrl is 15 bytes long, over the limit of 14 bytes (max_url_len)",
            ]
        );
        let text = r#"{"image_groups": [{"objectUrl_0": "s3://b/abc.jpg", "objectUrl_1": "s3://b/abcd.jpg"}]}"#;
        assert_eq!(
            shown(&parse_with(text, JSON, limits).await.0),
            ["image_groups[0]: objectUrl_1 is 15 bytes long, over the limit of 14 bytes (max_url_len)"]
        );
        let long = format!("s3://b/{}.jpg", "x".repeat(2048));
        assert_eq!(
            shown(&csv(format!("objectUrl\n{long}\n")).await),
            ["line 2: objectUrl is 2059 bytes long, over the limit of 2048 bytes (max_url_len)"]
        );
    }

    #[tokio::test]
    async fn limits_max_bytes_counts_every_byte() {
        let csv_text = "objectUrl\ns3://b/a.jpg\ns3://b/b.jpg\n";
        let json_text = r#"{"images": [{"objectUrl": "s3://b/a.jpg"}]}   "#;
        for (format, text, last) in [
            (CSV, csv_text, "IMAGE b.jpg <- s3://b/b.jpg"),
            (JSON, json_text, "IMAGE a.jpg <- s3://b/a.jpg"),
        ] {
            let exact = ManifestLimits {
                max_bytes: text.len() as u64,
                ..ManifestLimits::default()
            };
            let (items, _) = parse_with(text, format, exact).await;
            assert_eq!(
                shown(&items).last().map(String::as_str),
                Some(last),
                "{text}"
            );
            assert!(items.iter().all(Result::is_ok), "{text}");
            let short = ManifestLimits {
                max_bytes: text.len() as u64 - 1,
                ..ManifestLimits::default()
            };
            let (items, _) = parse_with(text, format, short).await;
            assert_eq!(
                shown(&items),
                [
                    "IMAGE a.jpg <- s3://b/a.jpg".to_owned(),
                    format!(
                        "the manifest is larger than {} bytes, the limit (max_bytes) (fatal)",
                        text.len() - 1
                    ),
                ],
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn limits_one_entry_is_at_most_max_entry_bytes() {
        let big = "x".repeat(MAX_ENTRY_BYTES);
        let json_text = format!(
            r#"{{"images": [{{"objectUrl": "s3://b/a.jpg"}}, {{"objectUrl": "s3://b/b.jpg", "clientMetadata": {{"blob": "{big}"}}}}]}}"#
        );
        let csv_text = format!("objectUrl,title\ns3://b/a.jpg,ok\ns3://b/b.jpg,\"{big}\"\n");
        let cases = [
            (JSON, json_text, "images[1]: the entry is larger than 1048576 bytes, the limit for one entry (fatal)"),
            (CSV, csv_text, "line 3: the record is larger than 1048576 bytes, the limit for one entry (fatal)"),
        ];
        for (format, text, expected) in cases {
            for step in [usize::MAX, 4096] {
                let (items, _) = run(text.as_bytes(), format, limits(), step).await;
                let shown = shown(&items);
                assert_eq!(shown.len(), 2);
                assert!(shown[0].starts_with("IMAGE "));
                assert_eq!(shown[1], expected);
            }
        }
    }

    // ---- API ----

    #[test]
    fn errors_display_where_they_are() {
        let cases = [
            (
                ManifestError::new("objectUrl is missing")
                    .at_line(7)
                    .in_entry(5),
                "line 7: objectUrl is missing",
            ),
            (
                ManifestError::new("clientMetadata must be an object")
                    .with_path(Some("images[3]"))
                    .in_entry(3),
                "images[3]: clientMetadata must be an object",
            ),
            (
                ManifestError::new("invalid JSON: expected `,` or `}`")
                    .at((12, 5))
                    .with_path(Some("images[3]")),
                "images[3]: line 12, column 5: invalid JSON: expected `,` or `}`",
            ),
            (ManifestError::new("x").at((1, 1)), "line 1, column 1: x"),
            (
                ManifestError::new("the manifest is empty"),
                "the manifest is empty",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn format_follows_the_file_extension() {
        assert_eq!(ManifestFormat::from_file_name("manifest.JSON"), Some(JSON));
        assert_eq!(
            ManifestFormat::from_file_name("s3://b/m.csv?versionId=1"),
            Some(CSV)
        );
        assert_eq!(ManifestFormat::from_file_name("m.csv.gz"), None);
        assert_eq!(ManifestFormat::from_file_name("manifest"), None);
        assert_eq!(ManifestFormat::from_file_name("dir.json/m"), None);
    }

    #[test]
    fn default_limits_are_sane() {
        let limits = ManifestLimits::default();
        assert_eq!(
            (limits.max_entries, limits.max_url_len, limits.max_bytes),
            (100_000, 2048, 64 << 20)
        );
    }

    #[tokio::test]
    async fn parse_all_is_all_or_nothing() {
        let parsed = parse_all(EVERY_ARRAY.as_bytes(), JSON, limits())
            .await
            .unwrap();
        assert_eq!(parsed.entries.len(), 10);
        assert_eq!(parsed.skip_duplicate_urls, Some(false));

        let e = parse_all(
            "objectUrl\ns3://b/a.jpg\n\"\"\nnot a url\n".as_bytes(),
            CSV,
            limits(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (e.to_string(), e.entry, e.fatal),
            ("line 3: objectUrl is missing".into(), Some(1), false)
        );

        let e = parse_all(
            r#"{"images": [{"objectUrl": "s3://b/a.jpg"}"#.as_bytes(),
            JSON,
            limits(),
        )
        .await
        .unwrap_err();
        assert!(e.fatal);
        assert_eq!(e.path.as_deref(), Some("images"));
    }

    #[tokio::test]
    async fn parse_stream_yields_what_the_parser_does_and_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let text = "objectUrl,kind\ns3://b/a.jpg,\n,\ns3://b/c,video\n";
        let stream = parse_stream(text.as_bytes(), CSV, limits());
        assert_send(&stream);
        let items: Vec<Item> = stream.collect().await;
        assert_eq!(
            shown(&items),
            [
                "IMAGE a.jpg <- s3://b/a.jpg",
                "line 3: objectUrl is missing",
                "VIDEO c <- s3://b/c"
            ]
        );
        assert_eq!(items, csv(text).await);
    }

    #[tokio::test]
    async fn read_errors_are_fatal() {
        struct Failing(bool);
        impl AsyncRead for Failing {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if self.0 {
                    return Poll::Ready(Err(io::Error::other("connection reset")));
                }
                self.0 = true;
                buf.put_slice(b"objectUrl\ns3://b/a.jpg\ns3://b/b");
                Poll::Ready(Ok(()))
            }
        }
        let mut parser = ManifestParser::new(Failing(false), CSV, limits());
        let mut items = Vec::new();
        while let Some(item) = parser.next().await {
            items.push(item);
        }
        assert_eq!(
            shown(&items),
            [
                "IMAGE a.jpg <- s3://b/a.jpg",
                "could not read the manifest: connection reset (fatal)"
            ]
        );
    }

    #[tokio::test]
    async fn example_fixtures_parse() {
        let text = include_str!("../../tests/fixtures/manifests/example.json");
        let (items, skip) = parse_with(text, JSON, limits()).await;
        assert_eq!(
            shown(&items),
            [
                "VIDEO Chicken <- s3://annograph-demo/farm/chicken.mp4",
                "IMAGE farm/cow.jpg <- gs://annograph-demo/farm/cow.jpg",
                "IMAGE Sheep <- https://cdn.example.com/farm/sheep.png",
                "IMAGE_GROUP Barn walk <- s3://annograph-demo/barn/1.jpg s3://annograph-demo/barn/2.jpg s3://annograph-demo/barn/3.jpg",
                "IMAGE_SEQUENCE seq/0001.jpg <- s3://annograph-demo/seq/0001.jpg s3://annograph-demo/seq/0002.jpg",
                "DICOM_SERIES Chest CT <- s3://annograph-demo/ct/1.dcm s3://annograph-demo/ct/2.dcm",
                "AUDIO farm/rooster.wav <- az://annograph-demo/farm/rooster.wav",
                "TEXT notes/readme.txt <- s3://annograph-demo/notes/readme.txt",
                "PDF docs/report.pdf <- s3://annograph-demo/docs/report.pdf",
            ]
        );
        assert_eq!(skip, Some(true));
        let entries = ok(items);
        assert_eq!(entries[0].client_metadata, Some(json!({"farm": "north"})));
        assert_eq!(
            entries[0].media_metadata.as_ref().map(|m| m["fps"].clone()),
            Some(json!(25))
        );

        let text = include_str!("../../tests/fixtures/manifests/example.csv");
        let items = csv(text).await;
        assert_eq!(
            shown(&items),
            [
                "VIDEO Chicken <- s3://annograph-demo/farm/chicken.mp4",
                "IMAGE farm/cow.jpg <- gs://annograph-demo/farm/cow.jpg",
                "IMAGE Sheep, in a field <- https://cdn.example.com/farm/sheep.png",
                "VIDEO Untyped blob <- s3://annograph-demo/blobs/abc123",
                "PDF Report \"final\" <- s3://annograph-demo/docs/report.pdf",
            ]
        );
        let entries = ok(items);
        assert_eq!(entries[4].client_metadata, Some(json!({"pages": 3})));
        assert_eq!(entries[4].line, Some(6));
    }

    // ---- streaming ----

    const STREAMED: usize = 200_000;

    /// A manifest made on demand: `piece(i)` is the text of piece `i`
    /// (`None` after the last), generated only when the reader asks for more.
    struct Generated<F> {
        piece: F,
        next: usize,
        pending: Vec<u8>,
        pos: usize,
        done: bool,
        produced: Arc<AtomicU64>,
    }

    impl<F> Generated<F> {
        fn new(produced: Arc<AtomicU64>, piece: F) -> Self {
            Generated {
                piece,
                next: 0,
                pending: Vec::new(),
                pos: 0,
                done: false,
                produced,
            }
        }
    }

    impl<F: FnMut(usize) -> Option<String> + Unpin> AsyncRead for Generated<F> {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            while buf.remaining() > 0 {
                if this.pos == this.pending.len() {
                    if this.done {
                        break;
                    }
                    this.pending.clear();
                    this.pos = 0;
                    match (this.piece)(this.next) {
                        Some(text) => {
                            this.pending.extend_from_slice(text.as_bytes());
                            this.next += 1;
                        }
                        None => this.done = true,
                    }
                    continue;
                }
                let n = buf.remaining().min(this.pending.len() - this.pos);
                buf.put_slice(&this.pending[this.pos..this.pos + n]);
                this.pos += n;
                this.produced.fetch_add(n as u64, Ordering::Relaxed);
            }
            Poll::Ready(Ok(()))
        }
    }

    /// Reads a generated manifest entry by entry, checking each with `check`
    /// and how far the generator ran ahead of the parser; prints the rate.
    async fn stream_generated<F: FnMut(usize) -> Option<String> + Unpin>(
        name: &str,
        format: ManifestFormat,
        piece: F,
        mut check: impl FnMut(&ManifestEntry, &ManifestParser<Generated<F>>),
    ) -> ManifestParser<Generated<F>> {
        let produced = Arc::new(AtomicU64::new(0));
        let limits = ManifestLimits {
            max_entries: STREAMED,
            ..ManifestLimits::default()
        };
        let mut parser =
            ManifestParser::new(Generated::new(produced.clone(), piece), format, limits);
        let started = Instant::now();
        let (mut count, mut ahead) = (0, 0);
        while let Some(item) = parser.next().await {
            let entry = item.unwrap_or_else(|e| panic!("entry {count}: {e}"));
            assert_eq!(entry.index, count);
            check(&entry, &parser);
            count += 1;
            ahead = ahead.max(produced.load(Ordering::Relaxed) - parser.bytes_read());
        }
        let elapsed = started.elapsed();
        let total = produced.load(Ordering::Relaxed);
        println!(
            "{name}: {count} entries, {total} bytes in {elapsed:.2?}: {:.0} entries/s, {:.1} MB/s; \
             entry buffer at most {} bytes, generator at most {ahead} bytes ahead",
            count as f64 / elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64() / 1e6,
            parser.max_buffered(),
        );
        assert_eq!(count, STREAMED);
        assert_eq!(parser.bytes_read(), total, "read to the end");
        assert!(
            total > 150 * READ_BUFFER_BYTES as u64,
            "a manifest far larger than the buffers"
        );
        assert!(
            ahead <= READ_BUFFER_BYTES as u64,
            "the data was read only as needed: {ahead} bytes ahead"
        );
        assert!(
            parser.max_buffered() <= 256,
            "one entry buffered at a time: {}",
            parser.max_buffered()
        );
        parser
    }

    #[tokio::test]
    async fn csv_200k_entries_stream_with_flat_memory() {
        let extensions = ["jpg", "mp4", "wav", "pdf"];
        let kinds = ["IMAGE", "VIDEO", "AUDIO", "PDF"];
        let piece = move |i: usize| match i {
            0 => Some("objectUrl,title,kind,clientMetadata\n".to_owned()),
            i if i <= STREAMED => {
                let n = i - 1;
                let extension = extensions[n % 4];
                Some(format!(
                    "s3://bucket/data/{n:07}.{extension},\"File {n}, quoted\",,\"{{\"\"n\"\": {n}}}\"\r\n"
                ))
            }
            _ => None,
        };
        stream_generated("csv", CSV, piece, |entry, _| {
            let n = entry.index;
            assert_eq!(entry.line, Some(n as u64 + 2));
            assert_eq!(entry.kind, kinds[n % 4]);
            assert_eq!(entry.title, format!("File {n}, quoted"));
            assert_eq!(entry.client_metadata, Some(json!({"n": n})));
        })
        .await;
    }

    #[tokio::test]
    async fn json_200k_entries_stream_with_flat_memory() {
        const IMAGES: usize = 150_000;
        let piece = |i: usize| match i {
            0 => Some("{\n  \"images\": [\n".to_owned()),
            i if i <= IMAGES => {
                let n = i - 1;
                let separator = if n == 0 { "" } else { ",\n" };
                Some(format!(
                    "{separator}    {{\"objectUrl\": \"s3://bucket/img/{n:07}.jpg\", \"title\": \"Image {n}\", \"clientMetadata\": {{\"n\": {n}}}}}"
                ))
            }
            i if i <= STREAMED => {
                let n = i - 1;
                let separator = if n == IMAGES {
                    "\n  ],\n  \"image_groups\": [\n"
                } else {
                    ",\n"
                };
                Some(format!(
                    "{separator}    {{\"objectUrl_0\": \"s3://bucket/grp/{n:07}/0.jpg\", \"objectUrl_1\": \"s3://bucket/grp/{n:07}/1.jpg\", \"clientMetadata\": {{\"n\": {n}}}}}"
                ))
            }
            i if i == STREAMED + 1 => {
                Some("\n  ],\n  \"skip_duplicate_urls\": true\n}\n".to_owned())
            }
            _ => None,
        };
        let parser = stream_generated("json", JSON, piece, |entry, parser| {
            let n = entry.index;
            assert_eq!(entry.client_metadata, Some(json!({"n": n})));
            if n < IMAGES {
                assert_eq!(entry.kind, "IMAGE");
                assert_eq!(entry.title, format!("Image {n}"));
                assert_eq!(entry.object_urls.len(), 1);
            } else {
                assert_eq!(entry.kind, "IMAGE_GROUP");
                assert_eq!(
                    entry.object_urls[1],
                    format!("s3://bucket/grp/{n:07}/1.jpg")
                );
            }
            // Not read yet: it follows the arrays.
            assert_eq!(parser.skip_duplicate_urls(), None);
        })
        .await;
        assert_eq!(parser.skip_duplicate_urls(), Some(true));
    }
}
