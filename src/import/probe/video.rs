//! ISO BMFF (MP4, MOV): the top-level box headers up to `moov`, then `moov`
//! itself, for the first video (or sound) track's size, duration, frame count
//! and the variable-frame-rate rule described in the module above.

use super::bytes::*;
use super::*;

/// The parts of `moov` the probe uses.
#[derive(Debug, Default)]
pub(super) struct Movie {
    /// `mvhd` duration in seconds, when known.
    pub(super) duration: Option<f64>,
    pub(super) video: Option<Track>,
    pub(super) audio: Option<Track>,
}

#[derive(Debug)]
pub(super) struct Track {
    pub(super) video: bool,
    pub(super) width: u32,
    pub(super) height: u32,
    /// `mdhd` duration in seconds, when known.
    pub(super) duration: Option<f64>,
    /// `stts` entries: (sample count, sample delta).
    pub(super) stts: Vec<(u32, u32)>,
}

pub(super) fn fourcc(kind: [u8; 4]) -> String {
    String::from_utf8_lossy(&kind).into_owned()
}

/// One box header at the start of `data` (`at` is its offset, for errors): its type, header
/// length and total size, `None` when it extends to the end of its parent (size 0).
pub(super) fn box_header(data: &[u8], at: u64) -> Result<([u8; 4], u64, Option<u64>), ProbeError> {
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
pub(super) async fn read_movie<R: RangeReader>(
    src: &mut Source<'_, R>,
) -> Result<Movie, ProbeError> {
    let Some((at, body_len)) = find_top_level_box(src, b"moov").await? else {
        return Err(malformed("no moov box (not a complete MP4/MOV)"));
    };
    if body_len > MAX_MOOV_LEN {
        return Err(ProbeError::Unsupported(format!(
            "moov box of {body_len} bytes is larger than the {MAX_MOOV_LEN}-byte limit"
        )));
    }
    let moov = src.bytes("moov box", at, body_len, 0).await?;
    parse_moov(moov)
}

/// Where the body of the first top-level box of type `kind` starts and its length, reading only
/// box headers; `None` when the object has none.
pub(super) async fn find_top_level_box<R: RangeReader>(
    src: &mut Source<'_, R>,
    kind: &[u8; 4],
) -> Result<Option<(u64, u64)>, ProbeError> {
    let mut pos = 0u64;
    for _ in 0..MAX_STEPS {
        if pos == src.len {
            return Ok(None);
        }
        let remaining = src.len - pos;
        let header = src.bytes("box header", pos, remaining.min(16), 0).await?;
        let (found, header_len, size) = box_header(header, pos)?;
        let size = size.unwrap_or(remaining);
        if size > remaining {
            return Err(malformed(format!(
                "box {:?} at byte {pos} claims {size} bytes but {remaining} remain (truncated?)",
                fourcc(found)
            )));
        }
        if &found == kind {
            return Ok(Some((pos + header_len, size - header_len)));
        }
        pos += size;
    }
    Err(ProbeError::Unsupported(format!(
        "no {} box in the first {MAX_STEPS} top-level boxes",
        fourcc(*kind)
    )))
}

/// A box inside another: its type and body.
pub(super) type ChildBox<'a> = ([u8; 4], &'a [u8]);

/// The child boxes of a box body.
pub(super) fn children(data: &[u8]) -> Result<Vec<ChildBox<'_>>, ProbeError> {
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

pub(super) fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, ProbeError> {
    Ok(children(data)?
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, body)| body))
}

pub(super) fn required_child<'a>(
    data: &'a [u8],
    kind: &[u8; 4],
    parent: &str,
) -> Result<&'a [u8], ProbeError> {
    child(data, kind)?.ok_or_else(|| malformed(format!("{parent} without {}", fourcc(*kind))))
}

/// Timescale and duration of `mvhd` or `mdhd` (version 0: 32-bit times, 1: 64-bit), as
/// seconds; `None` when the duration is unknown (all ones) or the timescale 0.
pub(super) fn header_duration(data: &[u8], what: &str) -> Result<Option<f64>, ProbeError> {
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

pub(super) fn parse_moov(moov: &[u8]) -> Result<Movie, ProbeError> {
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
pub(super) fn parse_trak(trak: &[u8]) -> Result<Option<Track>, ProbeError> {
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

pub(super) fn parse_stts(stts: &[u8]) -> Result<Vec<(u32, u32)>, ProbeError> {
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
pub(super) fn variable_frame_rate(stts: &[(u32, u32)]) -> bool {
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
pub(super) fn describe_movie(
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
