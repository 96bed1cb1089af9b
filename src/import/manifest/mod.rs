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
//! `kind` (a [`FileKind`] spelling, case-insensitive; inferred from the URL's
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
use tokio::io::{AsyncRead, BufReader};

use entity::enums::FileKind;

pub use crate::config::ManifestLimits;

mod csv;
mod entry;
mod json;
mod source;
#[cfg(test)]
mod tests;

use self::csv::Columns;
use self::json::JsonState;
use self::source::Source;

/// The largest single entry, in bytes: a CSV record, or a JSON array element
/// (or top-level value) as written in the manifest.
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// The size of the parser's read buffer.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The capacity the entry buffer goes back to after an unusually large entry.
const KEEP_ENTRY_BUFFER_BYTES: usize = 16 * 1024;

/// The JSON arrays of a manifest and the kind of file each one lists.
const ARRAYS: [(&str, FileKind); 8] = [
    ("videos", FileKind::Video),
    ("images", FileKind::Image),
    ("image_groups", FileKind::ImageGroup),
    ("image_sequences", FileKind::ImageSequence),
    ("dicom_series", FileKind::DicomSeries),
    ("audio", FileKind::Audio),
    ("text", FileKind::Text),
    ("pdf", FileKind::Pdf),
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

/// One file to import.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// 0-based number of the entry in the manifest (in document order, across
    /// the JSON arrays; bad entries are counted too).
    pub index: usize,
    /// The CSV line the entry starts on, 1-based, the header included; `None`
    /// for JSON.
    pub line: Option<u64>,
    pub kind: FileKind,
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
}
