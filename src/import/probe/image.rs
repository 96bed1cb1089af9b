//! Still-image dimensions: PNG, WebP and BMP from the head; JPEG marker
//! segments, TIFF directories and HEIF/AVIF `meta` boxes walked with bounded
//! ranged reads beyond it.
//!
//! Written here rather than with `imagesize`: that crate measures a byte
//! slice or a seekable reader, while a probe reads a remote object in a few
//! ranged requests, so the walks (JPEG, TIFF, ISO BMFF boxes) must stay ours.
//! For what fits in the head it is also less exact than these few lines: it
//! reads a top-down BMP's negative height as about four billion, ignores
//! OS/2 BMP headers, keeps VP8's scaling bits in WebP sizes, does not check
//! PNG's IHDR, and for HEIF takes the largest `ispe` of any item rather than
//! the primary item's, so a gridded HEIC whose tiles are larger than the
//! picture (as libheif writes small images) is given the tile's size.

use super::bytes::*;
use super::video::{child, children, find_top_level_box, required_child};
use super::*;

pub(super) fn png_size(head: &[u8]) -> Result<(u32, u32), ProbeError> {
    if head.get(12..16) != Some(b"IHDR") {
        return Err(malformed("PNG does not start with an IHDR chunk"));
    }
    Ok((
        be_u32(head, 16, "PNG width")?,
        be_u32(head, 20, "PNG height")?,
    ))
}

pub(super) fn webp_size(head: &[u8]) -> Result<(u32, u32), ProbeError> {
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

pub(super) fn bmp_size(head: &[u8]) -> Result<(u32, u32), ProbeError> {
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
pub(super) async fn jpeg_size<R: RangeReader>(
    src: &mut Source<'_, R>,
) -> Result<(u32, u32), ProbeError> {
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
pub(super) async fn tiff_size<R: RangeReader>(
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

/// HEIF and AVIF: the `ispe` (image spatial extents) of the primary item
/// (`pitm`) among its properties (`ipma` into `ipco`), width and height
/// swapped by a quarter turn (`irot`). `None` when the file has no primary
/// item (an image sequence only: no `meta`, or no `pitm` in it) or its `meta`
/// box is over [`MAX_META_LEN`].
pub(super) async fn heif_size<R: RangeReader>(
    src: &mut Source<'_, R>,
) -> Result<Option<(u32, u32)>, ProbeError> {
    let Some((at, len)) = find_top_level_box(src, b"meta").await? else {
        return Ok(None);
    };
    if len > MAX_META_LEN {
        return Ok(None);
    }
    let meta = src.bytes("meta box", at, len, 0).await?;
    // A full box: version and flags come first.
    let meta = meta
        .get(4..)
        .ok_or_else(|| malformed("meta box is truncated"))?;
    let Some(pitm) = child(meta, b"pitm")? else {
        return Ok(None);
    };
    let primary = match field::<1>(pitm, 0, "pitm")?[0] {
        0 => u32::from(be_u16(pitm, 4, "pitm item")?),
        _ => be_u32(pitm, 4, "pitm item")?,
    };
    let iprp = required_child(meta, b"iprp", "meta")?;
    let properties = children(required_child(iprp, b"ipco", "iprp")?)?;
    let ipma = required_child(iprp, b"ipma", "iprp")?;
    let (mut size, mut quarter_turned) = (None, false);
    for index in item_properties(ipma, primary)? {
        let Some((kind, body)) = index.checked_sub(1).and_then(|i| properties.get(i)) else {
            return Err(malformed(format!(
                "ipma names property {index}, which ipco does not hold"
            )));
        };
        match kind {
            b"ispe" => {
                size = Some((
                    be_u32(body, 4, "ispe width")?,
                    be_u32(body, 8, "ispe height")?,
                ))
            }
            b"irot" => quarter_turned = field::<1>(body, 0, "irot")?[0] & 1 == 1,
            _ => {}
        }
    }
    Ok(size.map(|(width, height)| {
        if quarter_turned {
            (height, width)
        } else {
            (width, height)
        }
    }))
}

/// The 1-based `ipco` indices `ipma` associates with `item`, in order.
fn item_properties(ipma: &[u8], item: u32) -> Result<Vec<usize>, ProbeError> {
    let version = field::<1>(ipma, 0, "ipma")?[0];
    let wide_indices = field::<1>(ipma, 3, "ipma flags")?[0] & 1 == 1;
    let count = be_u32(ipma, 4, "ipma entry count")?;
    let mut at = 8;
    for _ in 0..count.min(MAX_STEPS as u32) {
        let id = if version == 0 {
            at += 2;
            u32::from(be_u16(ipma, at - 2, "ipma item")?)
        } else {
            at += 4;
            be_u32(ipma, at - 4, "ipma item")?
        };
        let associations = usize::from(field::<1>(ipma, at, "ipma associations")?[0]);
        at += 1;
        let mut indices = Vec::with_capacity(associations);
        for _ in 0..associations {
            // The top bit marks an essential property; the rest is the index.
            if wide_indices {
                indices.push(usize::from(be_u16(ipma, at, "ipma property")? & 0x7fff));
                at += 2;
            } else {
                indices.push(usize::from(
                    field::<1>(ipma, at, "ipma property")?[0] & 0x7f,
                ));
                at += 1;
            }
        }
        if id == item {
            return Ok(indices);
        }
    }
    Ok(Vec::new())
}
