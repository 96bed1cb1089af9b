//! The JSON manifest: a top-level object of arrays, read one element at a
//! time. Elements are delimited by a string- and bracket-aware scanner and
//! then deserialized on their own with serde_json, so memory stays bounded by
//! the largest entry, not the manifest.
//!
//! The scanner, not a serde_json `DeserializeSeed` over the whole document:
//! serde_json reads a blocking `std::io::Read` and pushes values into a
//! visitor, while the manifest is an `AsyncRead` from object storage that the
//! import pulls entry by entry between its checkpoints; a visitor would need
//! a blocking thread and a channel per import. serde_json's own errors also
//! know neither the array nor the entry, and place a rejected value where it
//! ends, where these messages name `images[3]` and where it starts.

use serde_json::{Map, Value};
use tokio::io::AsyncRead;

use super::entry::{check_url, title_for};
use super::source::ReadError;
use super::*;

impl<R: AsyncRead + Unpin> ManifestParser<R> {
    pub(super) async fn next_json(&mut self) -> Step {
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
    pub(super) async fn json_key(&mut self) -> Result<(), ManifestError> {
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

    pub(super) async fn json_item(
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
    pub(super) async fn scan_json_value(
        &mut self,
        path: Option<&str>,
    ) -> Result<(), ManifestError> {
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

    pub(super) fn here(&self, message: impl Into<String>) -> ManifestError {
        ManifestError::new(message).at(self.src.position())
    }

    pub(super) fn unexpected_end(&self, path: Option<&str>) -> ManifestError {
        self.here("the manifest ends too early: the JSON is incomplete")
            .with_path(path)
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum JsonState {
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

pub(super) enum ScanError {
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
pub(super) async fn scan_json_value<R: AsyncRead + Unpin>(
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

pub(super) fn is_delimiter(b: u8) -> bool {
    matches!(b, b',' | b']' | b'}' | b':' | b' ' | b'\t' | b'\n' | b'\r')
}

/// A serde_json syntax error in a value that starts at `start`, placed in
/// the manifest.
pub(super) fn json_syntax(
    e: &serde_json::Error,
    start: (u64, u64),
    path: Option<&str>,
) -> ManifestError {
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

pub(super) fn entry_from_json(
    value: Value,
    array: &str,
    kind: FileKind,
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
        kind,
        object_urls,
        title,
        client_metadata,
        media_metadata: video_metadata.or(image_metadata),
    })
}

pub(super) fn json_object_urls(
    map: &Map<String, Value>,
    array: &str,
    kind: FileKind,
    limits: &ManifestLimits,
) -> Result<Vec<String>, String> {
    let numbered_only = matches!(kind, FileKind::ImageGroup | FileKind::ImageSequence);
    let numbered_allowed = numbered_only || kind == FileKind::DicomSeries;
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
pub(super) fn take_object(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<Value>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value @ Value::Object(_)) => Ok(Some(value)),
        Some(_) => Err(format!("{key} must be an object")),
    }
}
