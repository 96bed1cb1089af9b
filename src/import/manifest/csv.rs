//! The CSV manifest: RFC 4180 records read one at a time into one buffer,
//! with strict quoting (stray and unclosed quotes are errors with their line)
//! and columns found by name in the header.
//!
//! The tokenizer is ours, not `csv-core`'s (under `csv` and `csv-async`):
//! that one accepts a quote inside an unquoted field, text after a closing
//! quote and an unclosed quote at the end, and reads ` "a,b"` (blanks before
//! the quote) as two unquoted fields where this reads one. Refusing the first
//! three with the line a quote opened on, and keeping the fourth, needs a
//! quote-tracking pass over the same bytes: the state machine below, whose
//! only other work is copying field bytes into the record buffer.

use serde_json::Value;
use tokio::io::AsyncRead;

use super::entry::{check_url, kind_from_extension, title_for};
use super::*;

impl<R: AsyncRead + Unpin> ManifestParser<R> {
    pub(super) async fn next_csv(&mut self) -> Step {
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
    pub(super) async fn read_record(&mut self) -> Result<Option<u64>, ManifestError> {
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

    pub(super) fn record_is_blank(&self) -> bool {
        !self.record_quoted
            && self.ends.len() == 1
            && self.buf.iter().all(|b| b.is_ascii_whitespace())
    }

    pub(super) fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    pub(super) fn csv_header(&self, line: u64) -> Result<Columns, ManifestError> {
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

    pub(super) fn csv_entry(
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
                Some(given) => FileKind::parse(&given.to_ascii_uppercase()).ok_or_else(|| {
                    let kinds: Vec<&str> = FileKind::ALL.iter().map(|k| k.as_str()).collect();
                    format!(
                        "unknown kind {given:?}; expected one of {}",
                        kinds.join(", ")
                    )
                })?,
                None => kind_from_extension(&url).ok_or_else(|| {
                    format!("cannot tell the kind of {url:?} from its extension; add a kind column")
                })?,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CsvField {
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
pub(super) struct Columns {
    pub(super) count: usize,
    pub(super) url: usize,
    pub(super) title: Option<usize>,
    pub(super) kind: Option<usize>,
    pub(super) client_metadata: Option<usize>,
}
