//! Metadata probing of stored objects: what an object is (MIME type), and for images and videos
//! their size and timing, found with bounded ranged reads of headers, never the whole object.
//!
//! Reads, in order: one head of at most [`HEAD_LEN`] bytes to sniff the type (and, for most image
//! formats, the dimensions); then only what the format needs: JPEG marker segments and TIFF
//! directories beyond the head in windows of [`READ_AHEAD`] bytes; ISO BMFF (MP4/MOV) top-level box
//! headers (16 bytes each, `mdat` skipped unread) until `moov`, then `moov` itself, refused above
//! [`MAX_MOOV_LEN`]; for HEIF and AVIF, the same box headers until `meta`, then `meta` (at most
//! [`MAX_META_LEN`]); WAV chunk headers. Walks are bounded by [`MAX_STEPS`].
//!
//! The walks are written here because they read a remote object by ranges: crates that measure
//! media (`imagesize`, `mp4`) take a byte slice or a seekable reader, which would mean fetching
//! the object, or a range request per small read.
//!
//! Frame-rate rule for videos: `frame_count` is the sum of the sample counts of the first video
//! track's `stts`, `duration_seconds` its `mdhd` duration over its timescale (the `mvhd` duration
//! when the track's is unknown or zero) and `frame_rate = frame_count / duration_seconds`. The
//! track is variable-frame-rate when its smallest and largest sample deltas differ by more than
//! [`VFR_TOLERANCE`] of the smallest; a final `stts` entry of one sample is left out, because
//! muxers often give the last frame an odd duration.

use std::future::Future;

use entity::enums::FileKind;

mod audio;
mod bytes;
mod image;
mod sniff;
#[cfg(test)]
mod tests;
mod video;

use self::audio::{flac_duration, wav_duration};
use self::bytes::le_u16;
use self::image::{bmp_size, heif_size, jpeg_size, png_size, tiff_size, webp_size};
use self::sniff::{sniff, Category, Format};
use self::video::{describe_movie, read_movie};

/// The sniffing read at the start of every object.
pub const HEAD_LEN: u64 = 4 * 1024;
/// How much a JPEG or TIFF walk reads at once when it leaves the bytes read so far.
pub const READ_AHEAD: u64 = 4 * 1024;
/// The largest `moov` box read; larger ones are refused as unsupported.
pub const MAX_MOOV_LEN: u64 = 64 * 1024 * 1024;
/// The largest HEIF/AVIF `meta` box read (item and property tables, not pixels: a few kilobytes
/// in camera files); past it the image's size is left unknown.
pub const MAX_META_LEN: u64 = 1024 * 1024;
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

/// Probes one object for an entry of file kind `kind`.
/// IMAGE, VIDEO, AUDIO, TEXT and PDF entries must hold that kind of data; the other kinds
/// accept any object and report what is recognised. `url_hint` (the object's URL) only picks
/// the MIME type of text (`.csv` is `text/csv`); the bytes decide everything else.
pub async fn probe<R: RangeReader>(
    reader: &R,
    kind: FileKind,
    url_hint: &str,
) -> Result<ProbeResult, ProbeError> {
    let wanted = wanted_category(kind);
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
        Format::Heif | Format::Avif => heif_size(&mut src).await?,
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
fn wanted_category(kind: FileKind) -> Option<Category> {
    match kind {
        FileKind::Image => Some(Category::Image),
        FileKind::Video => Some(Category::Video),
        FileKind::Audio => Some(Category::Audio),
        FileKind::Text => Some(Category::Text),
        FileKind::Pdf => Some(Category::Pdf),
        FileKind::ImageGroup | FileKind::ImageSequence | FileKind::DicomSeries => None,
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
