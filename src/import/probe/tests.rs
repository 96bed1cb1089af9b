//! Probing real and hand-built headers of every supported format.

use super::video::*;
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

async fn probe_fixture(name: &str, kind: FileKind) -> Result<ProbeResult, ProbeError> {
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
        probe_fixture("image.png", FileKind::Image).await,
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
        probe(&object, FileKind::Image, "").await,
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

    let result = probe(&object, FileKind::Image, "").await.unwrap();

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
        probe_fixture("image.gif", FileKind::Image).await,
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
            probe_fixture(name, FileKind::Image).await,
            Ok(image(size, "image/webp", width, height)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn bmp_and_tiff_report_their_size() {
    assert_eq!(
        probe_fixture("image.bmp", FileKind::Image).await,
        Ok(image(306, "image/bmp", 12, 7))
    );
    assert_eq!(
        probe_fixture("image.tiff", FileKind::Image).await,
        Ok(image(565, "image/tiff", 16, 9))
    );
}

#[tokio::test]
async fn heif_and_avif_report_their_primary_image_size() {
    for (name, mime, size, width, height) in [
        // libheif's grid: one 64x64 tile cut to the 32x24 picture.
        ("image.heic", "image/heif", 704, 32, 24),
        ("image.avif", "image/avif", 615, 32, 24),
        // Turned a quarter by irot.
        ("rotated.avif", "image/avif", 625, 24, 32),
    ] {
        assert_eq!(
            probe_fixture(name, FileKind::Image).await,
            Ok(image(size, mime, width, height)),
            "{name}"
        );
    }
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

    let result = probe(&object, FileKind::Image, "").await.unwrap();

    assert_eq!((result.width, result.height), (Some(300), Some(600)));
    assert_eq!(object.reads(), [(0, HEAD_LEN), (50_000, 50_030)]);
}

#[tokio::test]
async fn constant_frame_rate_mp4_with_moov_at_the_end_reports_exact_timing() {
    let result = probe_fixture("cfr.mp4", FileKind::Video).await.unwrap();

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
        let (_, mdat_at, mdat_size) = boxes.iter().find(|(k, ..)| k == b"mdat").copied().unwrap();
        let (_, moov_at, moov_size) = boxes.iter().find(|(k, ..)| k == b"moov").copied().unwrap();
        assert!(moov_at > mdat_at, "{name}: moov at the end");

        probe(&object, FileKind::Video, "").await.unwrap();

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
    let result = probe_fixture("vfr.mp4", FileKind::Video).await.unwrap();

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
    let result = probe_fixture("faststart.mp4", FileKind::Video)
        .await
        .unwrap();

    assert_eq!((result.width, result.height), (Some(64), Some(48)));
    assert_close(result.duration_seconds, 1.0);
    assert_close(result.frame_rate, 10.0);
    assert_eq!(result.frame_count, Some(10));
    assert_eq!(result.variable_frame_rate, Some(false));
}

#[tokio::test]
async fn truncated_mp4_is_malformed() {
    let error = probe_fixture("truncated.mp4", FileKind::Video)
        .await
        .unwrap_err();
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

    let result = probe(&object, FileKind::Video, "").await.unwrap();

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

    let result = probe(&TestObject::new(bytes), FileKind::Video, "")
        .await
        .unwrap();

    assert_eq!((result.width, result.height), (Some(640), Some(360)));
    assert_close(result.duration_seconds, 4.0);
    assert_close(result.frame_rate, 25.0);
}

#[tokio::test]
async fn version_1_headers_are_read_and_an_unknown_track_duration_falls_back_to_mvhd() {
    let moov = synthetic_moov(1, 3000, u64::MAX, &[(89, 33), (1, 37)]);
    let bytes = [mp4_box(b"ftyp", b"mp42\0\0\0\0"), moov].concat();

    let result = probe(&TestObject::new(bytes), FileKind::Video, "")
        .await
        .unwrap();

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

    let error = probe(&object, FileKind::Video, "").await.unwrap_err();

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
    let error = probe_fixture("cfr.mp4", FileKind::Image).await.unwrap_err();
    assert_eq!(
        error,
        ProbeError::Unsupported("expected IMAGE data, but the object is video/mp4 (VIDEO)".into())
    );
}

#[tokio::test]
async fn kinds_must_match_the_bytes() {
    for (name, kind) in [
        ("image.png", FileKind::Video),
        ("doc.pdf", FileKind::Image),
        ("notes.txt", FileKind::Pdf),
        ("tone.wav", FileKind::Video),
        ("photo.jpg", FileKind::Text),
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
    for kind in [FileKind::Image, FileKind::Video] {
        let error = probe(&TestObject::new(noise.clone()), kind, "")
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ProbeError::Unsupported(m) if m.contains(kind.as_str())),
            "{error}"
        );
    }
    let any = probe(&TestObject::new(noise), FileKind::ImageGroup, "")
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
    let pdf = probe_fixture("doc.pdf", FileKind::Pdf).await.unwrap();
    assert_eq!(pdf.mime_type.as_deref(), Some("application/pdf"));
    let notes = probe_fixture("notes.txt", FileKind::Text).await.unwrap();
    assert_eq!(notes.mime_type.as_deref(), Some("text/plain"));
    assert_eq!(notes.size_bytes, 59);
    let csv = probe_fixture("labels.csv", FileKind::Text).await.unwrap();
    assert_eq!(csv.mime_type.as_deref(), Some("text/csv"));
    let svg = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n";
    let svg = probe(&TestObject::new(svg.to_vec()), FileKind::Image, "")
        .await
        .unwrap();
    assert_eq!(svg.mime_type.as_deref(), Some("image/svg+xml"));
}

#[tokio::test]
async fn audio_reports_its_type_and_wav_and_flac_their_duration() {
    let wav = probe_fixture("tone.wav", FileKind::Audio).await.unwrap();
    assert_eq!(wav.mime_type.as_deref(), Some("audio/wav"));
    assert_close(wav.duration_seconds, 0.25);
    let flac = probe_fixture("tone.flac", FileKind::Audio).await.unwrap();
    assert_eq!(flac.mime_type.as_deref(), Some("audio/flac"));
    assert_close(flac.duration_seconds, 0.5);
    for (name, mime) in [("tone.mp3", "audio/mpeg"), ("tone.ogg", "audio/ogg")] {
        let result = probe_fixture(name, FileKind::Audio).await.unwrap();
        assert_eq!(result.mime_type.as_deref(), Some(mime), "{name}");
    }
}

#[tokio::test]
async fn mp4_with_only_audio_is_audio() {
    let result = probe_fixture("tone.m4a", FileKind::Audio).await.unwrap();
    assert_eq!(result.mime_type.as_deref(), Some("audio/mp4"));
    assert_close(result.duration_seconds, 0.5);
    assert_eq!((result.width, result.frame_count), (None, None));
    let error = probe_fixture("tone.m4a", FileKind::Video)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ProbeError::Unsupported("the MP4 has no video track".into())
    );
}

#[tokio::test]
async fn webm_is_recognised_by_its_ebml_header() {
    let result = probe_fixture("clip.webm", FileKind::Video).await.unwrap();
    assert_eq!(result.mime_type.as_deref(), Some("video/webm"));
    assert_eq!(result.width, None, "MIME type only");
}

#[tokio::test]
async fn mp4_without_a_sound_track_is_no_audio() {
    let error = probe_fixture("cfr.mp4", FileKind::Audio).await.unwrap_err();
    assert_eq!(
        error,
        ProbeError::Unsupported("the MP4 has no audio track".into())
    );
}

#[tokio::test]
async fn empty_objects_and_storage_failures_are_errors() {
    let empty = probe(&TestObject::new(Vec::new()), FileKind::Image, "").await;
    assert_eq!(
        empty,
        Err(ProbeError::Malformed("the object is empty".into()))
    );
    let unreachable = probe(&FailingStorage, FileKind::Image, "")
        .await
        .unwrap_err();
    assert_eq!(
        unreachable.to_string(),
        "object unreachable: HEAD returned 403"
    );
}

#[test]
fn probing_is_send_so_a_worker_can_spawn_it() {
    fn assert_send<T: Send>(_: &T) {}
    let object = TestObject::new(Vec::new());
    assert_send(&probe(&object, FileKind::Image, ""));
}
