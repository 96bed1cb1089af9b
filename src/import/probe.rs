//! Metadata probing of stored objects: what an object is (MIME type), and for images and videos
//! their size and timing, found with bounded ranged reads of headers, never the whole object.
//!
//! Reads, in order: one head of at most [`HEAD_LEN`] bytes to sniff the type (and, for most image
//! formats, the dimensions); then only what the format needs: JPEG marker segments and TIFF
//! directories beyond the head in windows of [`READ_AHEAD`] bytes; ISO BMFF (MP4/MOV) top-level box
//! headers (16 bytes each, `mdat` skipped unread) until `moov`, then `moov` itself, refused above
//! [`MAX_MOOV_LEN`]; WAV chunk headers. Walks are bounded by [`MAX_STEPS`].
//!
//! Frame-rate rule for videos: `frame_count` is the sum of the sample counts of the first video
//! track's `stts`, `duration_seconds` its `mdhd` duration over its timescale (the `mvhd` duration
//! when the track's is unknown or zero) and `frame_rate = frame_count / duration_seconds`. The
//! track is variable-frame-rate when its smallest and largest sample deltas differ by more than
//! [`VFR_TOLERANCE`] of the smallest; a final `stts` entry of one sample is left out, because
//! muxers often give the last frame an odd duration.

use std::future::Future;

/// The sniffing read at the start of every object.
pub const HEAD_LEN: u64 = 4 * 1024;
/// How much a JPEG or TIFF walk reads at once when it leaves the bytes read so far.
pub const READ_AHEAD: u64 = 4 * 1024;
/// The largest `moov` box read; larger ones are refused as unsupported.
pub const MAX_MOOV_LEN: u64 = 64 * 1024 * 1024;
/// The most boxes, segments, chunks or directory entries one walk visits.
pub const MAX_STEPS: usize = 1024;
/// Relative difference between sample deltas above which a video is variable-frame-rate.
pub const VFR_TOLERANCE: f64 = 0.01;

/// Reads byte ranges of one stored object.
// `len` is a HEAD request; an `is_empty` beside it would only be a second request for the same.
#[allow(clippy::len_without_is_empty)]
pub trait RangeReader: Send + Sync {
    /// The object's size in bytes (a HEAD request).
    fn len(&self) -> impl Future<Output = Result<u64, ProbeError>> + Send;

    /// Bytes `start..end` (end exclusive) of the object. The probe keeps `end` within
    /// [`RangeReader::len`] and treats any other number of bytes returned as a storage failure.
    fn read_range(
        &self,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Vec<u8>, ProbeError>> + Send;
}

/// Objects in users' storage are read through their integration's client.
impl RangeReader for crate::storage::object::StoreObject {
    async fn len(&self) -> Result<u64, ProbeError> {
        self.size().await.map_err(ProbeError::Unreachable)
    }

    async fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>, ProbeError> {
        self.bytes(start, end)
            .await
            .map_err(ProbeError::Unreachable)
    }
}

/// What probing found; `None` where the format does not say or the probe does not look.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ProbeResult {
    pub size_bytes: u64,
    pub mime_type: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_seconds: Option<f64>,
    pub frame_rate: Option<f64>,
    pub frame_count: Option<u64>,
    pub variable_frame_rate: Option<bool>,
}

/// Why an object could not be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Storage could not be read (reported by a [`RangeReader`]).
    #[error("object unreachable: {0}")]
    Unreachable(String),
    /// The object is not what its entry's kind says, or uses something the probe refuses.
    #[error("unsupported object: {0}")]
    Unsupported(String),
    /// The object claims a format but its structure is broken or truncated.
    #[error("malformed object: {0}")]
    Malformed(String),
}

fn malformed(message: impl Into<String>) -> ProbeError {
    ProbeError::Malformed(message.into())
}

/// Probes one object for an entry of file kind `kind` (a `service::files::KINDS` value).
/// IMAGE, VIDEO, AUDIO, TEXT and PDF entries must hold that kind of data; the other kinds
/// accept any object and report what is recognised. `url_hint` (the object's URL) only picks
/// the MIME type of text (`.csv` is `text/csv`); the bytes decide everything else.
pub async fn probe<R: RangeReader>(
    reader: &R,
    kind: &str,
    url_hint: &str,
) -> Result<ProbeResult, ProbeError> {
    let wanted = wanted_category(kind)?;
    let mut src = Source::open(reader).await?;
    let mut result = ProbeResult {
        size_bytes: src.len,
        ..ProbeResult::default()
    };
    let Some(format) = sniff(&src.head, src.len, url_hint) else {
        return match wanted {
            None => Ok(result),
            Some(_) if src.len == 0 => Err(malformed("the object is empty")),
            Some(_) => Err(ProbeError::Unsupported(format!(
                "expected {kind} data, but the object is in no format the probe recognises"
            ))),
        };
    };
    if let Some(category) = wanted {
        if !format.may_hold(category) {
            return Err(ProbeError::Unsupported(format!(
                "expected {kind} data, but the object is {} ({})",
                format.mime(),
                format.category().name()
            )));
        }
    }
    result.mime_type = Some(format.mime().to_owned());
    let head = &src.head;
    let size = match format {
        Format::Png => Some(png_size(head)?),
        Format::Gif => Some((
            le_u16(head, 6, "GIF width")?.into(),
            le_u16(head, 8, "GIF height")?.into(),
        )),
        Format::WebP => Some(webp_size(head)?),
        Format::Bmp => Some(bmp_size(head)?),
        Format::Jpeg => Some(jpeg_size(&mut src).await?),
        Format::Tiff => tiff_size(&mut src).await?,
        Format::Wav => {
            result.duration_seconds = Some(wav_duration(&mut src).await?);
            None
        }
        Format::Flac => {
            result.duration_seconds = flac_duration(head)?;
            None
        }
        Format::IsoBmff { quicktime } => {
            let movie = read_movie(&mut src).await?;
            describe_movie(&movie, quicktime, wanted, &mut result)?;
            None
        }
        Format::Matroska { webm } if wanted == Some(Category::Audio) => {
            let mime = if webm {
                "audio/webm"
            } else {
                "audio/x-matroska"
            };
            result.mime_type = Some(mime.into());
            None
        }
        _ => None,
    };
    if let Some((width, height)) = size {
        result.width = Some(width);
        result.height = Some(height);
    }
    Ok(result)
}

/// What kind of data an entry must hold; `None` for kinds that take any object.
fn wanted_category(kind: &str) -> Result<Option<Category>, ProbeError> {
    match kind {
        "IMAGE" => Ok(Some(Category::Image)),
        "VIDEO" => Ok(Some(Category::Video)),
        "AUDIO" => Ok(Some(Category::Audio)),
        "TEXT" => Ok(Some(Category::Text)),
        "PDF" => Ok(Some(Category::Pdf)),
        "IMAGE_GROUP" | "IMAGE_SEQUENCE" | "DICOM_SERIES" => Ok(None),
        other => Err(ProbeError::Unsupported(format!(
            "unknown file kind {other:?}"
        ))),
    }
}

/// The object's size and the bytes read so far: the head, and the last window read beyond it.
struct Source<'r, R> {
    reader: &'r R,
    len: u64,
    head: Vec<u8>,
    window_start: u64,
    window: Vec<u8>,
}

impl<'r, R: RangeReader> Source<'r, R> {
    async fn open(reader: &'r R) -> Result<Self, ProbeError> {
        let len = reader.len().await?;
        let head = fetch(reader, 0, len.min(HEAD_LEN)).await?;
        Ok(Self {
            reader,
            len,
            head,
            window_start: 0,
            window: Vec::new(),
        })
    }

    /// Exactly `n` bytes at `start` (`what` names them in errors), from the bytes already read
    /// when they hold them; otherwise one read of `max(n, read_ahead)` bytes, cut at the end.
    async fn bytes(
        &mut self,
        what: &str,
        start: u64,
        n: u64,
        read_ahead: u64,
    ) -> Result<&[u8], ProbeError> {
        let end = match start.checked_add(n) {
            Some(end) if end <= self.len => end,
            _ => {
                return Err(malformed(format!(
                    "{what} needs bytes up to {} but the object has {} (truncated?)",
                    start.saturating_add(n),
                    self.len
                )))
            }
        };
        let n = usize::try_from(n).map_err(|_| malformed(format!("{what} is too large")))?;
        if end <= self.head.len() as u64 {
            let at = start as usize;
            return Ok(&self.head[at..at + n]);
        }
        let in_window =
            start >= self.window_start && end <= self.window_start + self.window.len() as u64;
        if !in_window {
            let fetch_end = start.saturating_add(read_ahead).clamp(end, self.len);
            self.window = fetch(self.reader, start, fetch_end).await?;
            self.window_start = start;
        }
        let at = (start - self.window_start) as usize;
        Ok(&self.window[at..at + n])
    }
}

async fn fetch<R: RangeReader>(reader: &R, start: u64, end: u64) -> Result<Vec<u8>, ProbeError> {
    if start == end {
        return Ok(Vec::new());
    }
    let bytes = reader.read_range(start, end).await?;
    if bytes.len() as u64 != end - start {
        return Err(ProbeError::Unreachable(format!(
            "storage returned {} bytes for range {start}..{end}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// Sniffing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Image,
    Video,
    Audio,
    Text,
    Pdf,
    Other,
}

impl Category {
    fn name(self) -> &'static str {
        match self {
            Self::Image => "IMAGE",
            Self::Video => "VIDEO",
            Self::Audio => "AUDIO",
            Self::Text => "TEXT",
            Self::Pdf => "PDF",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
    Gif,
    WebP,
    Bmp,
    Tiff,
    Svg,
    Heif,
    Avif,
    Pdf,
    IsoBmff { quicktime: bool },
    Matroska { webm: bool },
    Ogg { video: bool },
    Mp3,
    Aac,
    Wav,
    Flac,
    Dicom,
    Text { mime: &'static str },
}

impl Format {
    fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::WebP => "image/webp",
            Self::Bmp => "image/bmp",
            Self::Tiff => "image/tiff",
            Self::Svg => "image/svg+xml",
            Self::Heif => "image/heif",
            Self::Avif => "image/avif",
            Self::Pdf => "application/pdf",
            Self::IsoBmff { quicktime: true } => "video/quicktime",
            Self::IsoBmff { quicktime: false } => "video/mp4",
            Self::Matroska { webm: true } => "video/webm",
            Self::Matroska { webm: false } => "video/x-matroska",
            Self::Ogg { video: true } => "video/ogg",
            Self::Ogg { video: false } => "audio/ogg",
            Self::Mp3 => "audio/mpeg",
            Self::Aac => "audio/aac",
            Self::Wav => "audio/wav",
            Self::Flac => "audio/flac",
            Self::Dicom => "application/dicom",
            Self::Text { mime } => mime,
        }
    }

    fn category(self) -> Category {
        match self {
            Self::Png
            | Self::Jpeg
            | Self::Gif
            | Self::WebP
            | Self::Bmp
            | Self::Tiff
            | Self::Svg
            | Self::Heif
            | Self::Avif => Category::Image,
            Self::Pdf => Category::Pdf,
            Self::IsoBmff { .. } | Self::Matroska { .. } | Self::Ogg { video: true } => {
                Category::Video
            }
            Self::Ogg { video: false } | Self::Mp3 | Self::Aac | Self::Wav | Self::Flac => {
                Category::Audio
            }
            Self::Dicom => Category::Other,
            Self::Text { .. } => Category::Text,
        }
    }

    /// Whether an entry of `category` may hold this format: its own category, and audio may come
    /// in the video containers (an MP4 is then checked for an audio track).
    fn may_hold(self, category: Category) -> bool {
        self.category() == category
            || (category == Category::Audio
                && matches!(self, Self::IsoBmff { .. } | Self::Matroska { .. }))
    }
}

/// The format of an object of `len` bytes from its first bytes, `None` when unrecognised.
fn sniff(head: &[u8], len: u64, url_hint: &str) -> Option<Format> {
    let at = |range: std::ops::Range<usize>| head.get(range).unwrap_or_default();
    let riff = at(0..4) == b"RIFF";
    let format = match head {
        [] => return None,
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', ..] => Format::Png,
        [0xff, 0xd8, 0xff, ..] => Format::Jpeg,
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Format::Gif,
        _ if riff && at(8..12) == b"WEBP" => Format::WebP,
        _ if riff && at(8..12) == b"WAVE" => Format::Wav,
        // "BM" alone is too weak (text starts so): also require a known DIB header size.
        [b'B', b'M', ..]
            if matches!(le_u32(head, 14, ""), Ok(12 | 40 | 52 | 56 | 64 | 108 | 124)) =>
        {
            Format::Bmp
        }
        [b'I', b'I', b'*' | b'+', 0, ..] | [b'M', b'M', 0, b'*' | b'+', ..] => Format::Tiff,
        [b'%', b'P', b'D', b'F', b'-', ..] => Format::Pdf,
        _ if at(4..8) == b"ftyp" => match at(8..12) {
            b"avif" | b"avis" => Format::Avif,
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
                Format::Heif
            }
            b"qt  " => Format::IsoBmff { quicktime: true },
            _ => Format::IsoBmff { quicktime: false },
        },
        // QuickTime files may start without `ftyp`; the box size must fit the object.
        _ if matches!(at(4..8), b"moov" | b"mdat" | b"wide" | b"free" | b"skip")
            && be_u32(head, 0, "")
                .is_ok_and(|size| size == 1 || (8..=len).contains(&u64::from(size))) =>
        {
            Format::IsoBmff { quicktime: true }
        }
        [0x1a, 0x45, 0xdf, 0xa3, ..] => Format::Matroska {
            webm: contains(&head[..head.len().min(64)], b"webm"),
        },
        [b'O', b'g', b'g', b'S', ..] => Format::Ogg {
            video: contains(head, b"\x80theora"),
        },
        [b'f', b'L', b'a', b'C', ..] => Format::Flac,
        [b'I', b'D', b'3', ..] => Format::Mp3,
        // MPEG audio frame sync: layer bits 00 are ADTS AAC, 01 and 10 are layers III and II.
        [0xff, second, ..] if second & 0xf6 == 0xf0 => Format::Aac,
        [0xff, second, ..] if second & 0xe0 == 0xe0 && matches!((second >> 1) & 3, 1 | 2) => {
            Format::Mp3
        }
        _ if at(128..132) == b"DICM" => Format::Dicom,
        _ if is_text(head, len > head.len() as u64) => {
            if is_svg(head) {
                Format::Svg
            } else {
                Format::Text {
                    mime: text_mime(url_hint),
                }
            }
        }
        _ => return None,
    };
    Some(format)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// UTF-16 with a byte-order mark, or UTF-8 (a sequence cut by the end of a partial read
/// allowed) without NUL or other control characters than tab, line feed, form feed and return.
fn is_text(head: &[u8], partial: bool) -> bool {
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return true;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => partial && e.error_len().is_none(),
    };
    valid
        && !head
            .iter()
            .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
}

fn is_svg(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let start = text.trim_start_matches('\u{feff}').trim_start();
    (start.starts_with("<svg") || start.starts_with("<?xml") || start.starts_with("<!doctype svg"))
        && text.contains("<svg")
}

/// The MIME type of a text object from the extension of its URL's path.
fn text_mime(url_hint: &str) -> &'static str {
    let path = url_hint.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("csv") => "text/csv",
        Some("tsv") => "text/tab-separated-values",
        Some("json") => "application/json",
        Some("md" | "markdown") => "text/markdown",
        Some("html" | "htm") => "text/html",
        Some("xml") => "application/xml",
        _ => "text/plain",
    }
}

// ---------------------------------------------------------------------------------------------
// Byte fields

fn field<const N: usize>(data: &[u8], at: usize, what: &str) -> Result<[u8; N], ProbeError> {
    at.checked_add(N)
        .and_then(|end| data.get(at..end))
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| malformed(format!("{what} is truncated")))
}

fn be_u16(data: &[u8], at: usize, what: &str) -> Result<u16, ProbeError> {
    field(data, at, what).map(u16::from_be_bytes)
}

fn be_u32(data: &[u8], at: usize, what: &str) -> Result<u32, ProbeError> {
    field(data, at, what).map(u32::from_be_bytes)
}

fn be_u64(data: &[u8], at: usize, what: &str) -> Result<u64, ProbeError> {
    field(data, at, what).map(u64::from_be_bytes)
}

fn le_u16(data: &[u8], at: usize, what: &str) -> Result<u16, ProbeError> {
    field(data, at, what).map(u16::from_le_bytes)
}

fn le_u32(data: &[u8], at: usize, what: &str) -> Result<u32, ProbeError> {
    field(data, at, what).map(u32::from_le_bytes)
}

fn le_u24(data: &[u8], at: usize, what: &str) -> Result<u32, ProbeError> {
    let [a, b, c] = field(data, at, what)?;
    Ok(u32::from_le_bytes([a, b, c, 0]))
}

// ---------------------------------------------------------------------------------------------
// Images

fn png_size(head: &[u8]) -> Result<(u32, u32), ProbeError> {
    if head.get(12..16) != Some(b"IHDR") {
        return Err(malformed("PNG does not start with an IHDR chunk"));
    }
    Ok((
        be_u32(head, 16, "PNG width")?,
        be_u32(head, 20, "PNG height")?,
    ))
}

fn webp_size(head: &[u8]) -> Result<(u32, u32), ProbeError> {
    match &field::<4>(head, 12, "WebP chunk")? {
        b"VP8 " => {
            if head.get(23..26) != Some(&[0x9d, 0x01, 0x2a]) {
                return Err(malformed("WebP VP8 frame without its start code"));
            }
            let width = le_u16(head, 26, "WebP width")? & 0x3fff;
            let height = le_u16(head, 28, "WebP height")? & 0x3fff;
            Ok((width.into(), height.into()))
        }
        b"VP8L" => {
            if head.get(20) != Some(&0x2f) {
                return Err(malformed("WebP VP8L chunk without its signature"));
            }
            let bits = le_u32(head, 21, "WebP size")?;
            Ok(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => Ok((
            le_u24(head, 24, "WebP canvas width")? + 1,
            le_u24(head, 27, "WebP canvas height")? + 1,
        )),
        other => Err(malformed(format!(
            "WebP with unknown first chunk {:?}",
            String::from_utf8_lossy(other)
        ))),
    }
}

fn bmp_size(head: &[u8]) -> Result<(u32, u32), ProbeError> {
    if le_u32(head, 14, "BMP header")? == 12 {
        // OS/2 BITMAPCOREHEADER: 16-bit sizes.
        return Ok((
            le_u16(head, 18, "BMP width")?.into(),
            le_u16(head, 20, "BMP height")?.into(),
        ));
    }
    let width = le_u32(head, 18, "BMP width")? as i32;
    // Negative heights mark top-down bitmaps.
    let height = le_u32(head, 22, "BMP height")? as i32;
    Ok((width.unsigned_abs(), height.unsigned_abs()))
}

/// Walks the marker segments from SOI to the first SOFn (frame header) and reads its size.
async fn jpeg_size<R: RangeReader>(src: &mut Source<'_, R>) -> Result<(u32, u32), ProbeError> {
    let mut pos = 2u64;
    for _ in 0..MAX_STEPS {
        let marker = src.bytes("JPEG marker", pos, 2, READ_AHEAD).await?;
        let (prefix, marker) = (marker[0], marker[1]);
        if prefix != 0xff {
            return Err(malformed(format!("JPEG: no marker at byte {pos}")));
        }
        match marker {
            // Fill byte, or a marker without a length (TEM, RSTn, SOI).
            0xff => {
                pos += 1;
                continue;
            }
            0x01 | 0xd0..=0xd8 => {
                pos += 2;
                continue;
            }
            0xd9 | 0xda => return Err(malformed("JPEG image data starts before any frame header")),
            _ => {}
        }
        let length = src
            .bytes("JPEG segment length", pos + 2, 2, READ_AHEAD)
            .await?;
        let length = u64::from(be_u16(length, 0, "JPEG segment length")?);
        if length < 2 {
            return Err(malformed(format!(
                "JPEG segment at byte {pos} has length {length}"
            )));
        }
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            let frame = src
                .bytes("JPEG frame header", pos + 4, 5, READ_AHEAD)
                .await?;
            let height = be_u16(frame, 1, "JPEG height")?;
            let width = be_u16(frame, 3, "JPEG width")?;
            return Ok((width.into(), height.into()));
        }
        pos += 2 + length;
    }
    Err(malformed(format!(
        "JPEG: no frame header in the first {MAX_STEPS} segments"
    )))
}

/// Width and height from the first TIFF directory; `None` for BigTIFF (size only by MIME).
async fn tiff_size<R: RangeReader>(
    src: &mut Source<'_, R>,
) -> Result<Option<(u32, u32)>, ProbeError> {
    let little = src.head.starts_with(b"II");
    let u16_at = |data: &[u8], at: usize| -> Result<u16, ProbeError> {
        let bytes = field(data, at, "TIFF field")?;
        Ok(if little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    };
    let u32_at = |data: &[u8], at: usize| -> Result<u32, ProbeError> {
        let bytes = field(data, at, "TIFF field")?;
        Ok(if little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    };
    if u16_at(&src.head, 2)? == 43 {
        return Ok(None);
    }
    let directory = u64::from(u32_at(&src.head, 4)?);
    let count = u16_at(
        src.bytes("TIFF directory", directory, 2, READ_AHEAD)
            .await?,
        0,
    )?;
    let count = usize::from(count).min(MAX_STEPS);
    let entries = src
        .bytes(
            "TIFF directory entries",
            directory + 2,
            count as u64 * 12,
            READ_AHEAD,
        )
        .await?;
    let (mut width, mut height) = (None, None);
    for entry in entries.chunks_exact(12) {
        let value = match u16_at(entry, 2)? {
            3 => u32::from(u16_at(entry, 8)?),
            4 => u32_at(entry, 8)?,
            _ => continue,
        };
        match u16_at(entry, 0)? {
            256 => width = Some(value),
            257 => height = Some(value),
            _ => {}
        }
    }
    match (width, height) {
        (Some(width), Some(height)) => Ok(Some((width, height))),
        _ => Err(malformed(
            "TIFF directory without ImageWidth and ImageLength",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Audio

/// Duration of a WAV file: the `data` chunk's length over the `fmt ` chunk's byte rate.
async fn wav_duration<R: RangeReader>(src: &mut Source<'_, R>) -> Result<f64, ProbeError> {
    let (mut byte_rate, mut data_len) = (None, None);
    let mut pos = 12u64;
    for _ in 0..MAX_STEPS {
        if pos + 8 > src.len {
            break;
        }
        let header = src.bytes("WAV chunk header", pos, 8, 0).await?;
        let id: [u8; 4] = field(header, 0, "WAV chunk id")?;
        let size = u64::from(le_u32(header, 4, "WAV chunk size")?);
        match &id {
            b"fmt " => {
                let format = src.bytes("WAV fmt chunk", pos + 8, 12, 0).await?;
                byte_rate = Some(le_u32(format, 8, "WAV byte rate")?);
            }
            // Streamed or cut recordings may claim more than the object holds.
            b"data" => data_len = Some(size.min(src.len - (pos + 8))),
            _ => {}
        }
        if let (Some(rate), Some(data)) = (byte_rate, data_len) {
            if rate == 0 {
                return Err(malformed("WAV with a byte rate of 0"));
            }
            return Ok(data as f64 / f64::from(rate));
        }
        // Chunks are padded to an even length.
        pos = pos.saturating_add(8 + size + (size & 1));
    }
    Err(malformed("WAV without both a fmt and a data chunk"))
}

/// Duration from FLAC's STREAMINFO block (always first): total samples over the sample rate.
fn flac_duration(head: &[u8]) -> Result<Option<f64>, ProbeError> {
    if field::<1>(head, 4, "FLAC metadata")?[0] & 0x7f != 0 {
        return Err(malformed("FLAC without STREAMINFO first"));
    }
    let bits = be_u64(head, 18, "FLAC STREAMINFO")?;
    let sample_rate = bits >> 44;
    let samples = bits & 0xf_ffff_ffff;
    Ok((sample_rate > 0 && samples > 0).then(|| samples as f64 / sample_rate as f64))
}

// ---------------------------------------------------------------------------------------------
// ISO BMFF (MP4, MOV)

/// The parts of `moov` the probe uses.
#[derive(Debug, Default)]
struct Movie {
    /// `mvhd` duration in seconds, when known.
    duration: Option<f64>,
    video: Option<Track>,
    audio: Option<Track>,
}

#[derive(Debug)]
struct Track {
    video: bool,
    width: u32,
    height: u32,
    /// `mdhd` duration in seconds, when known.
    duration: Option<f64>,
    /// `stts` entries: (sample count, sample delta).
    stts: Vec<(u32, u32)>,
}

fn fourcc(kind: [u8; 4]) -> String {
    String::from_utf8_lossy(&kind).into_owned()
}

/// One box header at the start of `data` (`at` is its offset, for errors): its type, header
/// length and total size, `None` when it extends to the end of its parent (size 0).
fn box_header(data: &[u8], at: u64) -> Result<([u8; 4], u64, Option<u64>), ProbeError> {
    let size = be_u32(data, 0, "box header")?;
    let kind = field(data, 4, "box header")?;
    match size {
        0 => Ok((kind, 8, None)),
        1 => match be_u64(data, 8, "box largesize")? {
            large if large >= 16 => Ok((kind, 16, Some(large))),
            large => Err(malformed(format!(
                "box {:?} at byte {at} has largesize {large}",
                fourcc(kind)
            ))),
        },
        2..=7 => Err(malformed(format!(
            "box {:?} at byte {at} has size {size}",
            fourcc(kind)
        ))),
        size => Ok((kind, 8, Some(size.into()))),
    }
}

/// Finds the top-level `moov` reading only box headers, then reads it whole.
async fn read_movie<R: RangeReader>(src: &mut Source<'_, R>) -> Result<Movie, ProbeError> {
    let mut pos = 0u64;
    for _ in 0..MAX_STEPS {
        if pos == src.len {
            return Err(malformed("no moov box (not a complete MP4/MOV)"));
        }
        let remaining = src.len - pos;
        let header = src.bytes("box header", pos, remaining.min(16), 0).await?;
        let (kind, header_len, size) = box_header(header, pos)?;
        let size = size.unwrap_or(remaining);
        if size > remaining {
            return Err(malformed(format!(
                "box {:?} at byte {pos} claims {size} bytes but {remaining} remain (truncated?)",
                fourcc(kind)
            )));
        }
        if &kind == b"moov" {
            let body_len = size - header_len;
            if body_len > MAX_MOOV_LEN {
                return Err(ProbeError::Unsupported(format!(
                    "moov box of {body_len} bytes is larger than the {MAX_MOOV_LEN}-byte limit"
                )));
            }
            let moov = src.bytes("moov box", pos + header_len, body_len, 0).await?;
            return parse_moov(moov);
        }
        pos += size;
    }
    Err(ProbeError::Unsupported(format!(
        "no moov box in the first {MAX_STEPS} top-level boxes"
    )))
}

/// A box inside another: its type and body.
type ChildBox<'a> = ([u8; 4], &'a [u8]);

/// The child boxes of a box body.
fn children(data: &[u8]) -> Result<Vec<ChildBox<'_>>, ProbeError> {
    let mut found = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if found.len() == MAX_STEPS {
            return Err(ProbeError::Unsupported(format!(
                "more than {MAX_STEPS} boxes in one box"
            )));
        }
        let at = (data.len() - rest.len()) as u64;
        let (kind, header_len, size) = box_header(rest, at)?;
        let size = size.unwrap_or(rest.len() as u64);
        if size > rest.len() as u64 || size < header_len {
            return Err(malformed(format!(
                "box {:?} claims {size} bytes but its parent has {} left",
                fourcc(kind),
                rest.len()
            )));
        }
        found.push((kind, &rest[header_len as usize..size as usize]));
        rest = &rest[size as usize..];
    }
    Ok(found)
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, ProbeError> {
    Ok(children(data)?
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, body)| body))
}

fn required_child<'a>(
    data: &'a [u8],
    kind: &[u8; 4],
    parent: &str,
) -> Result<&'a [u8], ProbeError> {
    child(data, kind)?.ok_or_else(|| malformed(format!("{parent} without {}", fourcc(*kind))))
}

/// Timescale and duration of `mvhd` or `mdhd` (version 0: 32-bit times, 1: 64-bit), as
/// seconds; `None` when the duration is unknown (all ones) or the timescale 0.
fn header_duration(data: &[u8], what: &str) -> Result<Option<f64>, ProbeError> {
    let (timescale, duration) = match field::<1>(data, 0, what)?[0] {
        0 => {
            let duration = be_u32(data, 16, what)?;
            (
                be_u32(data, 12, what)?,
                (duration != u32::MAX).then_some(u64::from(duration)),
            )
        }
        1 => {
            let duration = be_u64(data, 24, what)?;
            (
                be_u32(data, 20, what)?,
                (duration != u64::MAX).then_some(duration),
            )
        }
        version => return Err(ProbeError::Unsupported(format!("{what} version {version}"))),
    };
    Ok(duration
        .filter(|_| timescale > 0)
        .map(|d| d as f64 / f64::from(timescale)))
}

fn parse_moov(moov: &[u8]) -> Result<Movie, ProbeError> {
    let mut movie = Movie::default();
    for (kind, body) in children(moov)? {
        match &kind {
            b"mvhd" => movie.duration = header_duration(body, "mvhd")?,
            b"trak" => match parse_trak(body)? {
                Some(track) if track.video && movie.video.is_none() => movie.video = Some(track),
                Some(track) if !track.video && movie.audio.is_none() => movie.audio = Some(track),
                _ => {}
            },
            _ => {}
        }
    }
    Ok(movie)
}

/// A video (`hdlr` `vide`) or sound (`soun`) track; `None` for other tracks.
fn parse_trak(trak: &[u8]) -> Result<Option<Track>, ProbeError> {
    let mdia = required_child(trak, b"mdia", "trak")?;
    let hdlr = required_child(mdia, b"hdlr", "mdia")?;
    let video = match &field::<4>(hdlr, 8, "hdlr")? {
        b"vide" => true,
        b"soun" => false,
        _ => return Ok(None),
    };
    let tkhd = required_child(trak, b"tkhd", "trak")?;
    // Width and height are 16.16 fixed point after the times, matrix and such.
    let size_at = if field::<1>(tkhd, 0, "tkhd")?[0] == 1 {
        88
    } else {
        76
    };
    let width = be_u32(tkhd, size_at, "tkhd width")? >> 16;
    let height = be_u32(tkhd, size_at + 4, "tkhd height")? >> 16;
    let duration = header_duration(required_child(mdia, b"mdhd", "mdia")?, "mdhd")?;
    let stbl = match child(mdia, b"minf")? {
        Some(minf) => child(minf, b"stbl")?,
        None => None,
    };
    let stts = match stbl.map(|stbl| child(stbl, b"stts")).transpose()?.flatten() {
        Some(stts) => parse_stts(stts)?,
        None => Vec::new(),
    };
    Ok(Some(Track {
        video,
        width,
        height,
        duration,
        stts,
    }))
}

fn parse_stts(stts: &[u8]) -> Result<Vec<(u32, u32)>, ProbeError> {
    let count = be_u32(stts, 4, "stts")? as usize;
    let entries = stts.get(8..).unwrap_or_default();
    if entries.len() / 8 < count {
        return Err(malformed(format!(
            "stts claims {count} entries but holds {}",
            entries.len() / 8
        )));
    }
    entries
        .chunks_exact(8)
        .take(count)
        .map(|e| Ok((be_u32(e, 0, "stts")?, be_u32(e, 4, "stts")?)))
        .collect()
}

/// The variable-frame-rate rule (see the module docs).
fn variable_frame_rate(stts: &[(u32, u32)]) -> bool {
    let considered = match stts {
        [rest @ .., (1, _)] if !rest.is_empty() => rest,
        all => all,
    };
    let deltas = considered
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(_, delta)| *delta);
    match (deltas.clone().min(), deltas.max()) {
        (Some(min), Some(max)) => f64::from(max - min) > VFR_TOLERANCE * f64::from(min),
        _ => false,
    }
}

/// Fills `result` from the track an entry wants: the first video track (the first audio track
/// for AUDIO entries).
fn describe_movie(
    movie: &Movie,
    quicktime: bool,
    wanted: Option<Category>,
    result: &mut ProbeResult,
) -> Result<(), ProbeError> {
    if movie.video.is_none() && movie.audio.is_some() {
        result.mime_type = Some("audio/mp4".into());
    }
    let track = match wanted {
        Some(Category::Audio) => movie.audio.as_ref(),
        Some(Category::Video) => movie.video.as_ref(),
        _ => movie.video.as_ref().or(movie.audio.as_ref()),
    };
    let container = if quicktime { "QuickTime movie" } else { "MP4" };
    let Some(track) = track else {
        let wanted = wanted.map_or("video or audio", |c| {
            if c == Category::Audio {
                "audio"
            } else {
                "video"
            }
        });
        return Err(ProbeError::Unsupported(format!(
            "the {container} has no {wanted} track"
        )));
    };
    // Video timing goes with the samples (`mdhd`); audio reports the presented length (`mvhd`,
    // after edit lists), which leaves out the encoder priming that AAC media carries.
    let known = |d: &f64| *d > 0.0;
    let duration = if track.video {
        track
            .duration
            .filter(known)
            .or(movie.duration.filter(known))
    } else {
        movie
            .duration
            .filter(known)
            .or(track.duration.filter(known))
    };
    result.duration_seconds = duration;
    if !track.video {
        return Ok(());
    }
    result.width = (track.width > 0).then_some(track.width);
    result.height = (track.height > 0).then_some(track.height);
    let frames: u64 = track.stts.iter().map(|(count, _)| u64::from(*count)).sum();
    if frames > 0 {
        result.frame_count = Some(frames);
        result.frame_rate = duration.map(|d| frames as f64 / d);
        result.variable_frame_rate = Some(variable_frame_rate(&track.stts));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An object of `len` bytes made of `pieces` at their offsets and zeros elsewhere (so huge
    /// objects cost nothing), recording every range read.
    struct TestObject {
        len: u64,
        pieces: Vec<(u64, Vec<u8>)>,
        reads: Mutex<Vec<(u64, u64)>>,
    }

    impl TestObject {
        fn new(bytes: Vec<u8>) -> Self {
            Self::sparse(bytes.len() as u64, vec![(0, bytes)])
        }

        fn sparse(len: u64, pieces: Vec<(u64, Vec<u8>)>) -> Self {
            Self {
                len,
                pieces,
                reads: Mutex::new(Vec::new()),
            }
        }

        fn fixture(name: &str) -> Self {
            let path = format!("{}/tests/fixtures/media/{name}", env!("CARGO_MANIFEST_DIR"));
            Self::new(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        }

        fn reads(&self) -> Vec<(u64, u64)> {
            self.reads.lock().unwrap().clone()
        }

        fn bytes_read(&self) -> u64 {
            self.reads().iter().map(|(start, end)| end - start).sum()
        }
    }

    impl RangeReader for TestObject {
        async fn len(&self) -> Result<u64, ProbeError> {
            Ok(self.len)
        }

        async fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>, ProbeError> {
            assert!(
                start < end && end <= self.len,
                "bad range {start}..{end} of {}",
                self.len
            );
            self.reads.lock().unwrap().push((start, end));
            let mut out = vec![0; (end - start) as usize];
            for (at, piece) in &self.pieces {
                let from = start.max(*at);
                let to = end.min(at + piece.len() as u64);
                if from < to {
                    out[(from - start) as usize..(to - start) as usize]
                        .copy_from_slice(&piece[(from - at) as usize..(to - at) as usize]);
                }
            }
            Ok(out)
        }
    }

    struct FailingStorage;

    impl RangeReader for FailingStorage {
        async fn len(&self) -> Result<u64, ProbeError> {
            Err(ProbeError::Unreachable("HEAD returned 403".into()))
        }

        async fn read_range(&self, _: u64, _: u64) -> Result<Vec<u8>, ProbeError> {
            unreachable!("nothing to read")
        }
    }

    async fn probe_fixture(name: &str, kind: &str) -> Result<ProbeResult, ProbeError> {
        probe(
            &TestObject::fixture(name),
            kind,
            &format!("s3://bucket/{name}"),
        )
        .await
    }

    fn image(size_bytes: u64, mime: &str, width: u32, height: u32) -> ProbeResult {
        ProbeResult {
            size_bytes,
            mime_type: Some(mime.into()),
            width: Some(width),
            height: Some(height),
            ..ProbeResult::default()
        }
    }

    fn assert_close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a value");
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32 + 8).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    /// The top-level boxes of a fixture, as (type, offset, size).
    fn top_level_boxes(bytes: &[u8]) -> Vec<([u8; 4], usize, usize)> {
        let mut boxes = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let (kind, _, size) = box_header(&bytes[pos..], pos as u64).unwrap();
            let size = size.unwrap() as usize;
            boxes.push((kind, pos, size));
            pos += size;
        }
        boxes
    }

    fn fixture_box(name: &str, kind: &[u8; 4]) -> Vec<u8> {
        let object = TestObject::fixture(name);
        let bytes = &object.pieces[0].1;
        let (_, at, size) = top_level_boxes(bytes)
            .into_iter()
            .find(|(k, ..)| k == kind)
            .unwrap();
        bytes[at..at + size].to_vec()
    }

    /// A moov with one video track: `mvhd` and `mdhd` of `version`, timescale 1000.
    fn synthetic_moov(version: u8, movie_ms: u64, track_ms: u64, stts: &[(u32, u32)]) -> Vec<u8> {
        let times = |ms: u64| {
            let mut body = vec![version, 0, 0, 0];
            if version == 1 {
                body.extend_from_slice(&[0; 16]);
                body.extend_from_slice(&1000u32.to_be_bytes());
                body.extend_from_slice(&ms.to_be_bytes());
            } else {
                body.extend_from_slice(&[0; 8]);
                body.extend_from_slice(&1000u32.to_be_bytes());
                body.extend_from_slice(&(ms as u32).to_be_bytes());
            }
            body
        };
        let mut mvhd = times(movie_ms);
        mvhd.resize(mvhd.len() + 80, 0);
        let mut tkhd = vec![version, 0, 0, 7];
        tkhd.resize(if version == 1 { 88 } else { 76 }, 0);
        tkhd.extend_from_slice(&(640u32 << 16).to_be_bytes());
        tkhd.extend_from_slice(&(360u32 << 16).to_be_bytes());
        let mut hdlr = vec![0; 8];
        hdlr.extend_from_slice(b"vide");
        hdlr.resize(25, 0);
        let mut stts_body = vec![0, 0, 0, 0];
        stts_body.extend_from_slice(&(stts.len() as u32).to_be_bytes());
        for (count, delta) in stts {
            stts_body.extend_from_slice(&count.to_be_bytes());
            stts_body.extend_from_slice(&delta.to_be_bytes());
        }
        let stbl = mp4_box(b"stbl", &mp4_box(b"stts", &stts_body));
        let minf = mp4_box(b"minf", &stbl);
        let mdia = mp4_box(
            b"mdia",
            &[
                mp4_box(b"mdhd", &times(track_ms)),
                mp4_box(b"hdlr", &hdlr),
                minf,
            ]
            .concat(),
        );
        let trak = mp4_box(b"trak", &[mp4_box(b"tkhd", &tkhd), mdia].concat());
        mp4_box(b"moov", &[mp4_box(b"mvhd", &mvhd), trak].concat())
    }

    #[tokio::test]
    async fn png_reports_its_ihdr_size() {
        assert_eq!(
            probe_fixture("image.png", "IMAGE").await,
            Ok(image(275, "image/png", 32, 24))
        );
    }

    #[tokio::test]
    async fn jpeg_with_exif_before_the_frame_header_reports_its_size() {
        let object = TestObject::fixture("photo.jpg");
        assert_eq!(
            object.pieces[0].1[2..4],
            [0xff, 0xe1],
            "APP1 (EXIF) right after SOI"
        );
        assert_eq!(
            probe(&object, "IMAGE", "").await,
            Ok(image(1205, "image/jpeg", 48, 32))
        );
    }

    #[tokio::test]
    async fn jpeg_frame_header_far_beyond_the_head_is_found_with_a_few_small_reads() {
        let mut jpeg = vec![0xff, 0xd8];
        for _ in 0..3 {
            jpeg.extend_from_slice(&[0xff, 0xe1, 0xff, 0xff]);
            jpeg.resize(jpeg.len() + 0xfffd, 0x55);
        }
        let sof_at = jpeg.len() as u64;
        jpeg.extend_from_slice(&[0xff, 0xc2, 0, 17, 8, 0x04, 0x38, 0x07, 0x80, 3]);
        jpeg.resize(jpeg.len() + 9 + 100_000, 0);
        let object = TestObject::new(jpeg);

        let result = probe(&object, "IMAGE", "").await.unwrap();

        assert_eq!((result.width, result.height), (Some(1920), Some(1080)));
        let reads = object.reads();
        assert_eq!(
            reads.len(),
            4,
            "head, then one window per segment: {reads:?}"
        );
        assert_eq!(reads.last().unwrap().0, sof_at);
        assert!(object.bytes_read() <= 4 * READ_AHEAD, "{reads:?}");
    }

    #[tokio::test]
    async fn gif_reports_its_logical_screen_size() {
        assert_eq!(
            probe_fixture("image.gif", "IMAGE").await,
            Ok(image(1791, "image/gif", 40, 30))
        );
    }

    #[tokio::test]
    async fn webp_reports_its_size_for_vp8_vp8l_and_vp8x() {
        for (name, chunk, size, width, height) in [
            ("lossy.webp", b"VP8 ", 494, 64, 48),
            ("lossless.webp", b"VP8L", 172, 33, 17),
            ("animated.webp", b"VP8X", 592, 20, 10),
        ] {
            assert_eq!(
                &TestObject::fixture(name).pieces[0].1[12..16],
                chunk,
                "{name}"
            );
            assert_eq!(
                probe_fixture(name, "IMAGE").await,
                Ok(image(size, "image/webp", width, height)),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn bmp_and_tiff_report_their_size() {
        assert_eq!(
            probe_fixture("image.bmp", "IMAGE").await,
            Ok(image(306, "image/bmp", 12, 7))
        );
        assert_eq!(
            probe_fixture("image.tiff", "IMAGE").await,
            Ok(image(565, "image/tiff", 16, 9))
        );
    }

    #[tokio::test]
    async fn tiff_directory_beyond_the_head_is_read_by_range() {
        let mut tiff = b"MM\0\x2a".to_vec();
        let directory = 50_000u32;
        tiff.extend_from_slice(&directory.to_be_bytes());
        tiff.resize(directory as usize, 0);
        tiff.extend_from_slice(&2u16.to_be_bytes());
        tiff.extend_from_slice(&[1, 0, 0, 3, 0, 0, 0, 1, 0x01, 0x2c, 0, 0]); // width SHORT 300
        tiff.extend_from_slice(&[1, 1, 0, 4, 0, 0, 0, 1, 0, 0, 0x02, 0x58]); // height LONG 600
        tiff.extend_from_slice(&[0; 4]);
        let object = TestObject::new(tiff);

        let result = probe(&object, "IMAGE", "").await.unwrap();

        assert_eq!((result.width, result.height), (Some(300), Some(600)));
        assert_eq!(object.reads(), [(0, HEAD_LEN), (50_000, 50_030)]);
    }

    #[tokio::test]
    async fn constant_frame_rate_mp4_with_moov_at_the_end_reports_exact_timing() {
        let result = probe_fixture("cfr.mp4", "VIDEO").await.unwrap();

        assert_eq!(result.size_bytes, 17_598);
        assert_eq!(result.mime_type.as_deref(), Some("video/mp4"));
        assert_eq!((result.width, result.height), (Some(160), Some(120)));
        assert_close(result.duration_seconds, 2.0);
        assert_close(result.frame_rate, 25.0);
        assert_eq!(result.frame_count, Some(50));
        assert_eq!(result.variable_frame_rate, Some(false));
    }

    #[tokio::test]
    async fn mp4_probe_reads_box_headers_and_moov_but_never_mdat() {
        for name in ["cfr.mp4", "vfr.mp4"] {
            let object = TestObject::fixture(name);
            let boxes = top_level_boxes(&object.pieces[0].1);
            let (_, mdat_at, mdat_size) =
                boxes.iter().find(|(k, ..)| k == b"mdat").copied().unwrap();
            let (_, moov_at, moov_size) =
                boxes.iter().find(|(k, ..)| k == b"moov").copied().unwrap();
            assert!(moov_at > mdat_at, "{name}: moov at the end");

            probe(&object, "VIDEO", "").await.unwrap();

            // The head, the moov header, the moov body: nothing of mdat past the head.
            let (moov_at, moov_size) = (moov_at as u64, moov_size as u64);
            assert_eq!(
                object.reads(),
                [
                    (0, HEAD_LEN),
                    (moov_at, moov_at + 16),
                    (moov_at + 8, moov_at + moov_size)
                ],
                "{name}"
            );
            let read = object.bytes_read();
            assert_eq!(read, HEAD_LEN + 16 + moov_size - 8);
            assert!(
                read * 3 < object.len,
                "{name}: read {read} of {} bytes",
                object.len
            );
            assert!(
                mdat_size as u64 > object.len / 2,
                "{name}: mdat is most of the file"
            );
        }
    }

    #[tokio::test]
    async fn variable_frame_rate_mp4_is_flagged() {
        let result = probe_fixture("vfr.mp4", "VIDEO").await.unwrap();

        // 25 frames at 25 fps, 24 at 12.5 fps and a last frame of 1/25 s: 37888/12800 s.
        assert_eq!(result.size_bytes, 17_964);
        assert_eq!((result.width, result.height), (Some(160), Some(120)));
        assert_close(result.duration_seconds, 2.96);
        assert_eq!(result.frame_count, Some(50));
        assert_close(result.frame_rate, 50.0 / 2.96);
        assert_eq!(result.variable_frame_rate, Some(true));
    }

    #[tokio::test]
    async fn mp4_with_moov_first_reports_its_timing() {
        let result = probe_fixture("faststart.mp4", "VIDEO").await.unwrap();

        assert_eq!((result.width, result.height), (Some(64), Some(48)));
        assert_close(result.duration_seconds, 1.0);
        assert_close(result.frame_rate, 10.0);
        assert_eq!(result.frame_count, Some(10));
        assert_eq!(result.variable_frame_rate, Some(false));
    }

    #[tokio::test]
    async fn truncated_mp4_is_malformed() {
        let error = probe_fixture("truncated.mp4", "VIDEO").await.unwrap_err();
        assert!(
            matches!(&error, ProbeError::Malformed(m) if m.contains("\"mdat\"") && m.contains("truncated")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn mp4_with_a_64_bit_mdat_of_gigabytes_reads_a_few_kilobytes() {
        let ftyp = fixture_box("cfr.mp4", b"ftyp");
        let moov = fixture_box("cfr.mp4", b"moov");
        let mdat_len: u64 = 5 << 30;
        let mut mdat_header = 1u32.to_be_bytes().to_vec();
        mdat_header.extend_from_slice(b"mdat");
        mdat_header.extend_from_slice(&mdat_len.to_be_bytes());
        let moov_at = ftyp.len() as u64 + mdat_len;
        let len = moov_at + moov.len() as u64;
        let object = TestObject::sparse(
            len,
            vec![
                (0, [ftyp.clone(), mdat_header].concat()),
                (moov_at, moov.clone()),
            ],
        );

        let result = probe(&object, "VIDEO", "").await.unwrap();

        assert_eq!(result.size_bytes, len);
        assert_eq!(result.frame_count, Some(50));
        assert_close(result.duration_seconds, 2.0);
        assert_eq!(object.bytes_read(), HEAD_LEN + 16 + moov.len() as u64 - 8);
    }

    #[tokio::test]
    async fn moov_of_size_zero_runs_to_the_end_of_the_object() {
        let mut moov = synthetic_moov(0, 4000, 4000, &[(100, 40)]);
        moov[..4].copy_from_slice(&[0; 4]);
        let bytes = [
            mp4_box(b"ftyp", b"isom\0\0\0\0"),
            mp4_box(b"mdat", &[7; 9000]),
            moov,
        ]
        .concat();

        let result = probe(&TestObject::new(bytes), "VIDEO", "").await.unwrap();

        assert_eq!((result.width, result.height), (Some(640), Some(360)));
        assert_close(result.duration_seconds, 4.0);
        assert_close(result.frame_rate, 25.0);
    }

    #[tokio::test]
    async fn version_1_headers_are_read_and_an_unknown_track_duration_falls_back_to_mvhd() {
        let moov = synthetic_moov(1, 3000, u64::MAX, &[(89, 33), (1, 37)]);
        let bytes = [mp4_box(b"ftyp", b"mp42\0\0\0\0"), moov].concat();

        let result = probe(&TestObject::new(bytes), "VIDEO", "").await.unwrap();

        assert_eq!((result.width, result.height), (Some(640), Some(360)));
        assert_close(result.duration_seconds, 3.0);
        assert_eq!(result.frame_count, Some(90));
        assert_close(result.frame_rate, 30.0);
        assert_eq!(
            result.variable_frame_rate,
            Some(false),
            "one odd last sample is not VFR"
        );
    }

    #[tokio::test]
    async fn moov_over_the_limit_is_refused_without_reading_it() {
        let moov_len = MAX_MOOV_LEN + 9;
        let mut moov_header = (moov_len as u32).to_be_bytes().to_vec();
        moov_header.extend_from_slice(b"moov");
        let ftyp = mp4_box(b"ftyp", b"isom\0\0\0\0");
        let object = TestObject::sparse(
            ftyp.len() as u64 + moov_len,
            vec![(0, [ftyp, moov_header].concat())],
        );

        let error = probe(&object, "VIDEO", "").await.unwrap_err();

        assert!(
            matches!(&error, ProbeError::Unsupported(m) if m.contains("limit")),
            "{error}"
        );
        assert_eq!(object.bytes_read(), HEAD_LEN);
    }

    #[test]
    fn variable_frame_rate_needs_deltas_more_than_one_percent_apart() {
        assert!(!variable_frame_rate(&[]));
        assert!(!variable_frame_rate(&[(50, 512)]));
        assert!(!variable_frame_rate(&[(1, 512)]));
        assert!(
            !variable_frame_rate(&[(49, 512), (1, 300)]),
            "odd last sample"
        );
        assert!(
            !variable_frame_rate(&[(10, 1000), (10, 1010)]),
            "exactly 1 %"
        );
        assert!(variable_frame_rate(&[(10, 1000), (10, 1011)]));
        assert!(variable_frame_rate(&[(25, 512), (24, 1024), (1, 512)]));
        assert!(
            variable_frame_rate(&[(48, 512), (1, 300), (1, 512)]),
            "odd sample mid-track"
        );
    }

    #[tokio::test]
    async fn image_entry_holding_an_mp4_is_unsupported() {
        let error = probe_fixture("cfr.mp4", "IMAGE").await.unwrap_err();
        assert_eq!(
            error,
            ProbeError::Unsupported(
                "expected IMAGE data, but the object is video/mp4 (VIDEO)".into()
            )
        );
    }

    #[tokio::test]
    async fn kinds_must_match_the_bytes() {
        for (name, kind) in [
            ("image.png", "VIDEO"),
            ("doc.pdf", "IMAGE"),
            ("notes.txt", "PDF"),
            ("tone.wav", "VIDEO"),
            ("photo.jpg", "TEXT"),
        ] {
            let error = probe_fixture(name, kind).await.unwrap_err();
            assert!(
                matches!(error, ProbeError::Unsupported(_)),
                "{name} as {kind}: {error}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_bytes_are_unsupported_for_images_and_videos() {
        let noise: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for kind in ["IMAGE", "VIDEO"] {
            let error = probe(&TestObject::new(noise.clone()), kind, "")
                .await
                .unwrap_err();
            assert!(
                matches!(&error, ProbeError::Unsupported(m) if m.contains(kind)),
                "{error}"
            );
        }
        let any = probe(&TestObject::new(noise), "IMAGE_GROUP", "")
            .await
            .unwrap();
        assert_eq!(
            any,
            ProbeResult {
                size_bytes: 3000,
                ..ProbeResult::default()
            }
        );
    }

    #[tokio::test]
    async fn pdf_and_text_are_recognised() {
        let pdf = probe_fixture("doc.pdf", "PDF").await.unwrap();
        assert_eq!(pdf.mime_type.as_deref(), Some("application/pdf"));
        let notes = probe_fixture("notes.txt", "TEXT").await.unwrap();
        assert_eq!(notes.mime_type.as_deref(), Some("text/plain"));
        assert_eq!(notes.size_bytes, 59);
        let csv = probe_fixture("labels.csv", "TEXT").await.unwrap();
        assert_eq!(csv.mime_type.as_deref(), Some("text/csv"));
        let svg = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n";
        let svg = probe(&TestObject::new(svg.to_vec()), "IMAGE", "")
            .await
            .unwrap();
        assert_eq!(svg.mime_type.as_deref(), Some("image/svg+xml"));
    }

    #[tokio::test]
    async fn audio_reports_its_type_and_wav_and_flac_their_duration() {
        let wav = probe_fixture("tone.wav", "AUDIO").await.unwrap();
        assert_eq!(wav.mime_type.as_deref(), Some("audio/wav"));
        assert_close(wav.duration_seconds, 0.25);
        let flac = probe_fixture("tone.flac", "AUDIO").await.unwrap();
        assert_eq!(flac.mime_type.as_deref(), Some("audio/flac"));
        assert_close(flac.duration_seconds, 0.5);
        for (name, mime) in [("tone.mp3", "audio/mpeg"), ("tone.ogg", "audio/ogg")] {
            let result = probe_fixture(name, "AUDIO").await.unwrap();
            assert_eq!(result.mime_type.as_deref(), Some(mime), "{name}");
        }
    }

    #[tokio::test]
    async fn mp4_with_only_audio_is_audio() {
        let result = probe_fixture("tone.m4a", "AUDIO").await.unwrap();
        assert_eq!(result.mime_type.as_deref(), Some("audio/mp4"));
        assert_close(result.duration_seconds, 0.5);
        assert_eq!((result.width, result.frame_count), (None, None));
        let error = probe_fixture("tone.m4a", "VIDEO").await.unwrap_err();
        assert_eq!(
            error,
            ProbeError::Unsupported("the MP4 has no video track".into())
        );
    }

    #[tokio::test]
    async fn webm_is_recognised_by_its_ebml_header() {
        let result = probe_fixture("clip.webm", "VIDEO").await.unwrap();
        assert_eq!(result.mime_type.as_deref(), Some("video/webm"));
        assert_eq!(result.width, None, "MIME type only");
    }

    #[tokio::test]
    async fn mp4_without_a_sound_track_is_no_audio() {
        let error = probe_fixture("cfr.mp4", "AUDIO").await.unwrap_err();
        assert_eq!(
            error,
            ProbeError::Unsupported("the MP4 has no audio track".into())
        );
    }

    #[tokio::test]
    async fn empty_objects_unknown_kinds_and_storage_failures_are_errors() {
        let empty = probe(&TestObject::new(Vec::new()), "IMAGE", "").await;
        assert_eq!(
            empty,
            Err(ProbeError::Malformed("the object is empty".into()))
        );
        let kind = probe(&TestObject::fixture("image.png"), "HOLOGRAM", "").await;
        assert!(matches!(kind, Err(ProbeError::Unsupported(_))), "{kind:?}");
        let unreachable = probe(&FailingStorage, "IMAGE", "").await.unwrap_err();
        assert_eq!(
            unreachable.to_string(),
            "object unreachable: HEAD returned 403"
        );
    }

    #[test]
    fn probing_is_send_so_a_worker_can_spawn_it() {
        fn assert_send<T: Send>(_: &T) {}
        let object = TestObject::new(Vec::new());
        assert_send(&probe(&object, "IMAGE", ""));
    }
}
