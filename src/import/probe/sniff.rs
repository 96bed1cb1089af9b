//! What an object is, from its first bytes: the format (and so the MIME type
//! and category), text told apart from binary, SVG from other XML.

use entity::enums::FileKind;

use super::bytes::{be_u32, le_u32};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Category {
    Image,
    Video,
    Audio,
    Text,
    Pdf,
    Other,
}

impl Category {
    /// The file kind the category is the data of, or `other`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Image => FileKind::Image.as_str(),
            Self::Video => FileKind::Video.as_str(),
            Self::Audio => FileKind::Audio.as_str(),
            Self::Text => FileKind::Text.as_str(),
            Self::Pdf => FileKind::Pdf.as_str(),
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
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
    pub(super) fn mime(self) -> &'static str {
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

    pub(super) fn category(self) -> Category {
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
    pub(super) fn may_hold(self, category: Category) -> bool {
        self.category() == category
            || (category == Category::Audio
                && matches!(self, Self::IsoBmff { .. } | Self::Matroska { .. }))
    }
}

/// The format of an object of `len` bytes from its first bytes, `None` when unrecognised.
pub(super) fn sniff(head: &[u8], len: u64, url_hint: &str) -> Option<Format> {
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

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// UTF-16 with a byte-order mark, or UTF-8 (a sequence cut by the end of a partial read
/// allowed) without NUL or other control characters than tab, line feed, form feed and return.
pub(super) fn is_text(head: &[u8], partial: bool) -> bool {
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

pub(super) fn is_svg(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let start = text.trim_start_matches('\u{feff}').trim_start();
    (start.starts_with("<svg") || start.starts_with("<?xml") || start.starts_with("<!doctype svg"))
        && text.contains("<svg")
}

/// The MIME type of a text object from the extension of its URL's path.
pub(super) fn text_mime(url_hint: &str) -> &'static str {
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
