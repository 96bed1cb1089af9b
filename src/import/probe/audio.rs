//! Audio durations: WAV chunk headers, FLAC's STREAMINFO block.

use super::bytes::*;
use super::*;

/// Duration of a WAV file: the `data` chunk's length over the `fmt ` chunk's byte rate.
pub(super) async fn wav_duration<R: RangeReader>(
    src: &mut Source<'_, R>,
) -> Result<f64, ProbeError> {
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
pub(super) fn flac_duration(head: &[u8]) -> Result<Option<f64>, ProbeError> {
    if field::<1>(head, 4, "FLAC metadata")?[0] & 0x7f != 0 {
        return Err(malformed("FLAC without STREAMINFO first"));
    }
    let bits = be_u64(head, 18, "FLAC STREAMINFO")?;
    let sample_rate = bits >> 44;
    let samples = bits & 0xf_ffff_ffff;
    Ok((sample_rate > 0 && samples > 0).then(|| samples as f64 / sample_rate as f64))
}
