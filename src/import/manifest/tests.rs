//! Tests of both formats, their limits and their streaming.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::json;
use tokio::io::ReadBuf;

use crate::service::input::TITLE_MAX;

use super::*;

type Item = Result<ManifestEntry, ManifestError>;

const CSV: ManifestFormat = ManifestFormat::Csv;
const JSON: ManifestFormat = ManifestFormat::Json;

fn limits() -> ManifestLimits {
    ManifestLimits::default()
}

/// Hands out `data` at most `step` bytes a read, to cut it everywhere.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .step
            .min(buf.remaining())
            .min(self.data.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

async fn run(
    data: &[u8],
    format: ManifestFormat,
    limits: ManifestLimits,
    step: usize,
) -> (Vec<Item>, Option<bool>) {
    let reader = Trickle {
        data: data.to_vec(),
        pos: 0,
        step,
    };
    let mut parser = ManifestParser::new(reader, format, limits);
    let mut items = Vec::new();
    while let Some(item) = parser.next().await {
        items.push(item);
    }
    assert!(
        parser.next().await.is_none(),
        "a finished parser stays finished"
    );
    let fatal = items
        .iter()
        .filter(|i| matches!(i, Err(e) if e.fatal))
        .count();
    assert!(fatal <= 1, "at most one fatal error");
    if fatal == 1 {
        assert!(
            matches!(items.last(), Some(Err(e)) if e.fatal),
            "a fatal error is last"
        );
    }
    (items, parser.skip_duplicate_urls())
}

/// Parses `data` in one read and cut into reads of 1, 2, 3, 5 and 8
/// bytes, which must all agree.
async fn parse_with(
    data: impl AsRef<[u8]>,
    format: ManifestFormat,
    limits: ManifestLimits,
) -> (Vec<Item>, Option<bool>) {
    let data = data.as_ref();
    let whole = run(data, format, limits, usize::MAX).await;
    for step in [1, 2, 3, 5, 8] {
        let cut = run(data, format, limits, step).await;
        assert_eq!(cut, whole, "reading {step} bytes at a time");
    }
    whole
}

async fn csv(data: impl AsRef<[u8]>) -> Vec<Item> {
    parse_with(data, CSV, limits()).await.0
}

async fn json(data: impl AsRef<[u8]>) -> Vec<Item> {
    parse_with(data, JSON, limits()).await.0
}

/// Each item in short: `KIND title <- urls`, or the error as displayed,
/// marked `(fatal)` when it ends the stream.
fn shown(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Ok(e) => format!("{} {} <- {}", e.kind, e.title, e.object_urls.join(" ")),
            Err(e) if e.fatal => format!("{e} (fatal)"),
            Err(e) => e.to_string(),
        })
        .collect()
}

fn ok(items: Vec<Item>) -> Vec<ManifestEntry> {
    items
        .into_iter()
        .map(|item| item.unwrap_or_else(|e| panic!("unexpected error: {e}")))
        .collect()
}

fn entry(index: usize, line: Option<u64>, kind: &str, url: &str, title: &str) -> ManifestEntry {
    ManifestEntry {
        index,
        line,
        kind: FileKind::parse(kind).expect("a file kind"),
        object_urls: vec![url.into()],
        title: title.into(),
        client_metadata: None,
        media_metadata: None,
    }
}

// ---- CSV ----

#[tokio::test]
async fn csv_rows_become_entries_with_default_titles_and_inferred_kinds() {
    let text = "objectUrl,title\ns3://bucket/cats/1.jpg,Cat one\ngs://bucket/videos/clip.mp4,\n";
    assert_eq!(
        ok(csv(text).await),
        [
            entry(0, Some(2), "IMAGE", "s3://bucket/cats/1.jpg", "Cat one"),
            entry(
                1,
                Some(3),
                "VIDEO",
                "gs://bucket/videos/clip.mp4",
                "videos/clip.mp4"
            ),
        ]
    );
}

#[tokio::test]
async fn csv_header_names_ignore_case_and_accept_snake_case() {
    for header in [
        "objectUrl,title,kind,clientMetadata",
        "OBJECTURL,TITLE,KIND,CLIENTMETADATA",
        "object_url,Title,Kind,client_metadata",
        " Object_URL , title ,kind, Client_Metadata ",
    ] {
        let text = format!("{header}\ns3://b/x.bin,X,video,\"{{\"\"a\"\": 1}}\"\n");
        let entries = ok(csv(&text).await);
        assert_eq!(entries.len(), 1, "{header}");
        assert_eq!(entries[0].kind, FileKind::Video, "{header}");
        assert_eq!(entries[0].title, "X", "{header}");
        assert_eq!(
            entries[0].client_metadata,
            Some(json!({"a": 1})),
            "{header}"
        );
    }
}

#[tokio::test]
async fn csv_columns_come_in_any_order_and_unknown_ones_are_ignored() {
    let items = csv("notes,kind,Object_Url,extra\nhello,image,s3://b/photos/x,1\n").await;
    assert_eq!(shown(&items), ["IMAGE photos/x <- s3://b/photos/x"]);
}

#[tokio::test]
async fn csv_quoting_follows_rfc_4180() {
    let text = "objectUrl,title,clientMetadata\n\
        s3://b/1.jpg,\"Hello, world\",\"{\"\"tags\"\": [\"\"a\"\", \"\"b,c\"\"], \"\"n\"\": 1}\"\n\
        s3://b/2.jpg,\"say \"\"hi\"\"\",\n\
        s3://b/3.jpg,\"two\nlines\",\n\
        s3://b/4.jpg,\"\",\n\
        \"s3://b/5.jpg\" , \"spaced\" ,\n\
        \"s3://b/6.jpg\",\"\"\"quoted\"\"\",\"{}\"\n";
    let entries = ok(csv(text).await);
    let summary: Vec<(usize, Option<u64>, &str, &str)> = entries
        .iter()
        .map(|e| (e.index, e.line, e.object_urls[0].as_str(), e.title.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (0, Some(2), "s3://b/1.jpg", "Hello, world"),
            (1, Some(3), "s3://b/2.jpg", "say \"hi\""),
            (2, Some(4), "s3://b/3.jpg", "two\nlines"),
            (3, Some(6), "s3://b/4.jpg", "4.jpg"),
            (4, Some(7), "s3://b/5.jpg", "spaced"),
            (5, Some(8), "s3://b/6.jpg", "\"quoted\""),
        ]
    );
    assert_eq!(
        entries[0].client_metadata,
        Some(json!({"tags": ["a", "b,c"], "n": 1}))
    );
    assert_eq!(entries[1].client_metadata, None);
    assert_eq!(entries[5].client_metadata, Some(json!({})));
}

#[tokio::test]
async fn csv_accepts_crlf_a_byte_order_mark_and_a_last_line_without_newline() {
    let text = "\u{FEFF}objectUrl,Title\r\ns3://b/a.png,A\r\ns3://b/b.png,\"B\r\nC\"\r\ns3://b/c.png,\"D\"";
    let entries = ok(csv(text).await);
    let summary: Vec<(Option<u64>, &str)> =
        entries.iter().map(|e| (e.line, e.title.as_str())).collect();
    assert_eq!(
        summary,
        [(Some(2), "A"), (Some(3), "B\r\nC"), (Some(5), "D")]
    );
    let items = csv("objectUrl\ns3://b/a.jpg").await;
    assert_eq!(shown(&items), ["IMAGE a.jpg <- s3://b/a.jpg"]);
}

#[tokio::test]
async fn csv_blank_lines_are_skipped() {
    let text = "\n\nobjectUrl\n\ns3://b/a.pdf\n   \n\t\r\ns3://b/b.pdf\n\n";
    assert_eq!(
        ok(csv(text).await),
        [
            entry(0, Some(5), "PDF", "s3://b/a.pdf", "a.pdf"),
            entry(1, Some(8), "PDF", "s3://b/b.pdf", "b.pdf"),
        ]
    );
    let text = "objectUrl,title\n  \r\ns3://b/a.pdf,A\n";
    assert_eq!(
        ok(csv(text).await),
        [entry(0, Some(3), "PDF", "s3://b/a.pdf", "A")]
    );
}

#[tokio::test]
async fn csv_kind_is_inferred_from_the_extension() {
    let table = [
        ("jpg", "IMAGE"),
        ("jpeg", "IMAGE"),
        ("png", "IMAGE"),
        ("gif", "IMAGE"),
        ("webp", "IMAGE"),
        ("bmp", "IMAGE"),
        ("tif", "IMAGE"),
        ("tiff", "IMAGE"),
        ("mp4", "VIDEO"),
        ("mov", "VIDEO"),
        ("webm", "VIDEO"),
        ("mkv", "VIDEO"),
        ("avi", "VIDEO"),
        ("mp3", "AUDIO"),
        ("wav", "AUDIO"),
        ("flac", "AUDIO"),
        ("ogg", "AUDIO"),
        ("m4a", "AUDIO"),
        ("txt", "TEXT"),
        ("md", "TEXT"),
        ("json", "TEXT"),
        ("pdf", "PDF"),
        ("dcm", "DICOM_SERIES"),
    ];
    let mut text = String::from("objectUrl\n");
    for (extension, _) in table {
        let upper = extension.to_uppercase();
        text += &format!("s3://b/dir/file.{extension}\nhttps://h.example/DIR/FILE.{upper}\n");
    }
    let entries = ok(csv(&text).await);
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let expected: Vec<&str> = table.iter().flat_map(|(_, kind)| [*kind, *kind]).collect();
    assert_eq!(kinds, expected);

    let text = "objectUrl\n\
        https://h.example/a/b.mp4?sig=x.png#frag.pdf\n\
        s3://b/noext\n\
        s3://b/archive.tar.gz\n\
        s3://b/dir.jpg/file\n\
        https://cdn.example.png\n\
        https://h.example/a.jpg/\n";
    let hint = "from its extension; add a kind column";
    assert_eq!(
        shown(&csv(text).await),
        [
            "VIDEO a/b.mp4 <- https://h.example/a/b.mp4?sig=x.png#frag.pdf".to_owned(),
            format!("line 3: cannot tell the kind of \"s3://b/noext\" {hint}"),
            format!("line 4: cannot tell the kind of \"s3://b/archive.tar.gz\" {hint}"),
            format!("line 5: cannot tell the kind of \"s3://b/dir.jpg/file\" {hint}"),
            format!("line 6: cannot tell the kind of \"https://cdn.example.png\" {hint}"),
            format!("line 7: cannot tell the kind of \"https://h.example/a.jpg/\" {hint}"),
        ]
    );
}

#[tokio::test]
async fn csv_kind_column_wins_over_the_extension_in_any_case() {
    let text = "objectUrl,kind\n\
        s3://b/a.bin,video\n\
        s3://b/b.jpg,\n\
        s3://b/c.jpg,  Image_Group \n\
        s3://b/d.jpg,picture\n\
        s3://b/e.zzz,\n";
    assert_eq!(
        shown(&csv(text).await),
        [
            "VIDEO a.bin <- s3://b/a.bin",
            "IMAGE b.jpg <- s3://b/b.jpg",
            "IMAGE_GROUP c.jpg <- s3://b/c.jpg",
            "line 5: unknown kind \"picture\"; expected one of IMAGE, VIDEO, IMAGE_GROUP, \
             IMAGE_SEQUENCE, DICOM_SERIES, AUDIO, TEXT, PDF",
            "line 6: cannot tell the kind of \"s3://b/e.zzz\" from its extension; add a kind \
             column",
        ]
    );
}

#[tokio::test]
async fn csv_bad_lines_are_entry_errors_and_the_stream_goes_on() {
    let long_title = "t".repeat(TITLE_MAX + 1);
    let mut text = format!(
        "objectUrl,title,clientMetadata\n\
         ,no url,\n\
         \"\",quoted empty,\n\
         not a url,,\n\
         ftp://b/a.jpg,,\n\
         s3://b/a.jpg,too,many,fields\n\
         s3://b/a.jpg,one field\n\
         s3://b/a.jpg,,{{oops\n\
         s3://b/a.jpg,,\"[1, 2]\"\n\
         s3://b/a.jpg,{long_title},\n"
    )
    .into_bytes();
    text.extend_from_slice(b"s3://b/a.jpg,caf\xE9,\n");
    text.extend_from_slice(b"s3://b/last.jpg,Last,\n");
    let items = csv(&text).await;
    assert_eq!(
        shown(&items),
        [
            "line 2: objectUrl is missing",
            "line 3: objectUrl is missing",
            "line 4: objectUrl \"not a url\" is not a URL",
            "line 5: objectUrl \"ftp://b/a.jpg\" must be a URL with one of the schemes s3, gs, \
             az, azure, http, https, file, local",
            "line 6: the line has 4 fields but the header row has 3",
            "line 7: the line has 2 fields but the header row has 3",
            "line 8: clientMetadata is not valid JSON: key must be a string at line 1 column 2",
            "line 9: clientMetadata must be an object",
            "line 10: title must be at most 200 characters",
            "line 11: title is not UTF-8 text",
            "IMAGE Last <- s3://b/last.jpg",
        ]
    );
    for (index, item) in items.iter().enumerate() {
        match item {
            Err(e) => {
                assert_eq!(e.entry, Some(index));
                assert_eq!(e.line, Some(index as u64 + 2));
                assert!(!e.fatal);
            }
            Ok(e) => assert_eq!(e.index, index),
        }
    }
}

#[tokio::test]
async fn csv_unreadable_manifests_end_with_one_fatal_error() {
    let empty = "the manifest is empty; a CSV manifest starts with a header row such as \
                 objectUrl,title (fatal)";
    let no_url_column = "line 1: the header row has no objectUrl column; the first line of a \
                         CSV manifest names its columns: objectUrl (required), title, kind, \
                         clientMetadata (fatal)";
    let cases: [(&str, &[&str]); 9] = [
        ("", &[empty]),
        ("\n \r\n", &[empty]),
        ("objectUrl\n", &[]),
        ("title,kind\ns3://b/a.jpg,IMAGE\n", &[no_url_column]),
        ("s3://b/a.jpg\ns3://b/b.jpg\n", &[no_url_column]),
        (
            "objectUrl,title,OBJECT_URL\n",
            &["line 1: the header row names the objectUrl column twice (fatal)"],
        ),
        (
            "objectUrl,title\ns3://b/a.jpg,ok\ns3://b/b.jpg,\"never\nclosed\ns3://b/c.jpg,x\n",
            &[
                "IMAGE ok <- s3://b/a.jpg",
                "line 3: a quoted field starting on this line is not closed before the end of \
                 the manifest (fatal)",
            ],
        ),
        (
            "objectUrl,title\ns3://b/a.jpg,say \"hi\"\ns3://b/b.jpg,x\n",
            &[
                "line 2: a quote inside an unquoted field; put the whole field in quotes and \
               double each quote inside it (fatal)",
            ],
        ),
        (
            "objectUrl,title\ns3://b/a.jpg,\"multi\nline\"x\ns3://b/b.jpg,x\n",
            &[
                "line 3: unexpected text after a closing quote; a quoted field ends at a comma \
               or the end of the line (double a quote to keep it in the field) (fatal)",
            ],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(shown(&csv(text).await), expected, "{text:?}");
    }
}

// ---- JSON ----

const EVERY_ARRAY: &str = r#"{
  "pdf": [{"objectUrl": "s3://b/doc.pdf"}],
  "videos": [{"objectUrl": "s3://b/v.mp4"}],
  "images": [{"objectUrl": "s3://b/i.jpg"}, {"objectUrl": "s3://b/i2.jpg", "title": "  Second  "}],
  "image_groups": [{"objectUrl_0": "s3://b/g/0.jpg", "objectUrl_1": "s3://b/g/1.jpg"}],
  "image_sequences": [{"objectUrl_0": "s3://b/s/0.jpg"}],
  "dicom_series": [
    {"objectUrl_0": "s3://b/ct/1.dcm", "objectUrl_1": "s3://b/ct/2.dcm"},
    {"objectUrl": "s3://b/ct/one.dcm"}
  ],
  "audio": [{"objectUrl": "s3://b/a.wav"}],
  "text": [{"objectUrl": "s3://b/t.txt"}],
  "skip_duplicate_urls": false
}"#;

#[tokio::test]
async fn json_each_array_decides_the_kind_in_document_order() {
    let (items, skip) = parse_with(EVERY_ARRAY, JSON, limits()).await;
    assert_eq!(
        shown(&items),
        [
            "PDF doc.pdf <- s3://b/doc.pdf",
            "VIDEO v.mp4 <- s3://b/v.mp4",
            "IMAGE i.jpg <- s3://b/i.jpg",
            "IMAGE Second <- s3://b/i2.jpg",
            "IMAGE_GROUP g/0.jpg <- s3://b/g/0.jpg s3://b/g/1.jpg",
            "IMAGE_SEQUENCE s/0.jpg <- s3://b/s/0.jpg",
            "DICOM_SERIES ct/1.dcm <- s3://b/ct/1.dcm s3://b/ct/2.dcm",
            "DICOM_SERIES ct/one.dcm <- s3://b/ct/one.dcm",
            "AUDIO a.wav <- s3://b/a.wav",
            "TEXT t.txt <- s3://b/t.txt",
        ]
    );
    let entries = ok(items);
    assert!(entries
        .iter()
        .enumerate()
        .all(|(i, e)| e.index == i && e.line.is_none()));
    assert_eq!(skip, Some(false));
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        FileKind::ALL.iter().all(|k| kinds.contains(&k.as_str())),
        "every kind has its array"
    );
}

#[tokio::test]
async fn json_metadata_is_kept_as_given() {
    let text = r#"{
      "videos": [{"objectUrl": "s3://b/v.mp4", "clientMetadata": {"k": [1, {"x": null}]},
                  "videoMetadata": {"fps": 29.97, "width": 1920}}],
      "images": [{"objectUrl": "s3://b/i.jpg", "imageMetadata": {"width": 640},
                  "clientMetadata": null, "videoMetadata": null, "other": "ignored"}]
    }"#;
    let entries = ok(json(text).await);
    assert_eq!(
        entries[0].client_metadata,
        Some(json!({"k": [1, {"x": null}]}))
    );
    assert_eq!(
        entries[0].media_metadata,
        Some(json!({"fps": 29.97, "width": 1920}))
    );
    assert_eq!(entries[1].client_metadata, None);
    assert_eq!(entries[1].media_metadata, Some(json!({"width": 640})));
}

#[tokio::test]
async fn json_bad_entries_are_entry_errors_and_the_stream_goes_on() {
    let text = r#"{"images": [
        {"objectUrl": "s3://b/0.jpg"},
        {"title": "no url"},
        {"objectUrl": 5},
        {"objectUrl": "s3://b/3.jpg", "clientMetadata": [1]},
        {"objectUrl": "s3://b/4.jpg", "title": 7},
        {"objectUrl": "s3://b/5.jpg", "imageMetadata": "x"},
        {"objectUrl": "s3://b/6.jpg", "videoMetadata": {}, "imageMetadata": {}},
        "s3://b/7.jpg",
        {"objectUrl": "nope"},
        {"objectUrl": "  "},
        true, 12, null,
        {"objectUrl": "s3://b/13.jpg", "title": "   "}
      ],
      "dicom_series": [{"objectUrl": "s3://b/x.dcm", "objectUrl_0": "s3://b/y.dcm"}]
    }"#;
    let items = json(text).await;
    assert_eq!(
        shown(&items),
        [
            "IMAGE 0.jpg <- s3://b/0.jpg",
            "images[1]: objectUrl is missing",
            "images[2]: objectUrl must be a string",
            "images[3]: clientMetadata must be an object",
            "images[4]: title must be a string",
            "images[5]: imageMetadata must be an object",
            "images[6]: give videoMetadata or imageMetadata, not both",
            "images[7]: an entry must be an object",
            "images[8]: objectUrl \"nope\" is not a URL",
            "images[9]: objectUrl is missing",
            "images[10]: an entry must be an object",
            "images[11]: an entry must be an object",
            "images[12]: an entry must be an object",
            "IMAGE 13.jpg <- s3://b/13.jpg",
            "dicom_series[0]: give objectUrl or objectUrl_0, objectUrl_1, …, not both",
        ]
    );
    for (index, item) in items.iter().enumerate() {
        if let Err(e) = item {
            assert_eq!((e.entry, e.line, e.fatal), (Some(index), None, false));
        }
    }
}

#[tokio::test]
async fn json_groups_list_object_url_n_in_numeric_order() {
    let mut group = serde_json::Map::new();
    for i in (0..11).rev() {
        group.insert(format!("objectUrl_{i}"), json!(format!("s3://b/g/{i}.jpg")));
    }
    group.insert("title".into(), json!("Eleven"));
    let text = json!({
        "image_groups": [group],
        "image_sequences": [{"objectUrl_0": "s3://b/h/0.jpg", "createVideo": true}],
    })
    .to_string();
    let entries = ok(json(text).await);
    let urls: Vec<String> = (0..11).map(|i| format!("s3://b/g/{i}.jpg")).collect();
    assert_eq!(entries[0].object_urls, urls);
    assert_eq!(
        (entries[0].kind.as_str(), entries[0].title.as_str()),
        ("IMAGE_GROUP", "Eleven")
    );
    assert_eq!(entries[1].object_urls, ["s3://b/h/0.jpg"]);
    assert_eq!(entries[1].title, "h/0.jpg");
}

#[tokio::test]
async fn json_group_keys_must_run_from_object_url_0_without_gaps() {
    let text = r#"{"image_groups": [
        {},
        {"objectUrl_0": "s3://b/0.jpg", "objectUrl_2": "s3://b/2.jpg"},
        {"objectUrl": "s3://b/x.jpg"},
        {"objectUrl_0": "s3://b/0.jpg", "objectUrl_01": "s3://b/1.jpg"},
        {"objectUrl_1": "s3://b/1.jpg"},
        {"objectUrl_0": "bad"},
        {"objectUrl_0": 3},
        {"objectUrl_0": "s3://b/0.jpg", "objectUrl_1": null}
      ],
      "image_sequences": [{"title": "none"}]
    }"#;
    assert_eq!(
        shown(&json(text).await),
        [
            "image_groups[0]: objectUrl_0 is missing; image_groups entries list their objects \
             as objectUrl_0, objectUrl_1, …",
            "image_groups[1]: objectUrl_1 is missing; the objectUrl_N keys must run from \
             objectUrl_0 without gaps",
            "image_groups[2]: image_groups entries list their objects as objectUrl_0, \
             objectUrl_1, …, not objectUrl",
            "image_groups[3]: objectUrl_01 is not a valid key; number the objects \
             objectUrl_0, objectUrl_1, …",
            "image_groups[4]: objectUrl_0 is missing; the objectUrl_N keys must run from \
             objectUrl_0 without gaps",
            "image_groups[5]: objectUrl_0 \"bad\" is not a URL",
            "image_groups[6]: objectUrl_0 must be a string",
            "image_groups[7]: objectUrl_1 is missing",
            "image_sequences[0]: objectUrl_0 is missing; image_sequences entries list their \
             objects as objectUrl_0, objectUrl_1, …",
        ]
    );
}

#[tokio::test]
async fn json_skip_duplicate_urls_may_come_before_or_after_the_arrays() {
    let cases = [
        (
            r#"{"skip_duplicate_urls": true, "images": [{"objectUrl": "s3://b/a.jpg"}]}"#,
            Some(true),
        ),
        (
            r#"{"images": [{"objectUrl": "s3://b/a.jpg"}], "skip_duplicate_urls": false}"#,
            Some(false),
        ),
        (r#"{"images": [{"objectUrl": "s3://b/a.jpg"}]}"#, None),
        (
            r#"{"skip_duplicate_urls": null, "images": [{"objectUrl": "s3://b/a.jpg"}]}"#,
            None,
        ),
    ];
    for (text, expected) in cases {
        let (items, skip) = parse_with(text, JSON, limits()).await;
        assert_eq!(shown(&items), ["IMAGE a.jpg <- s3://b/a.jpg"], "{text}");
        assert_eq!(skip, expected, "{text}");
    }
    assert_eq!(
        shown(&json(r#"{"skip_duplicate_urls": "yes"}"#).await),
        ["line 1, column 25: skip_duplicate_urls must be true or false (fatal)"]
    );
    assert_eq!(
        shown(&json(r#"{"skip_duplicate_urls": true, "skip_duplicate_urls": true}"#).await),
        ["line 1, column 31: the key \"skip_duplicate_urls\" appears twice (fatal)"]
    );
}

#[tokio::test]
async fn json_syntax_errors_name_the_entry_line_and_column() {
    let text = "{\n  \"images\": [\n    {\"objectUrl\": \"s3://b/0.jpg\"},\n    {\"objectUrl\": \"s3://b/1.jpg\",}\n  ]\n}\n";
    assert_eq!(
        shown(&json(text).await),
        [
            "IMAGE 0.jpg <- s3://b/0.jpg",
            "images[1]: line 4, column 34: invalid JSON: trailing comma (fatal)",
        ]
    );
    let text = "{\"images\": [\n  {\n    \"objectUrl\": \"s3://b/0.jpg\"\n    \"title\": \"no comma\"\n  }\n]}";
    let items = json(text).await;
    assert_eq!(
        shown(&items),
        ["images[0]: line 4, column 5: invalid JSON: expected `,` or `}` (fatal)"]
    );
    let Err(e) = &items[0] else { unreachable!() };
    assert_eq!(
        (e.line, e.column, e.entry, e.path.as_deref()),
        (Some(4), Some(5), None, Some("images[0]"))
    );
    let cases: [(&str, &[&str]); 8] = [
        (
            r#"{"images": [{"objectUrl": "s3://b/a.jpg"]]}"#,
            &["images[0]: line 1, column 41: invalid JSON: expected `,` or `}` (fatal)"],
        ),
        (
            r#"{"images": [{"objectUrl": "s3://b/a.jpg"}}"#,
            &[
                "IMAGE a.jpg <- s3://b/a.jpg",
                "images[0]: line 1, column 42: expected , or ] after the entry (fatal)",
            ],
        ),
        (
            r#"{"images": [{"objectUrl": "s3://b/a.jpg"},]}"#,
            &["IMAGE a.jpg <- s3://b/a.jpg", "images[1]: line 1, column 43: expected an entry (fatal)"],
        ),
        (
            r#"{"images": [, {"objectUrl": "s3://b/a.jpg"}]}"#,
            &["images[0]: line 1, column 13: expected an entry (fatal)"],
        ),
        (
            r#"{"images": [{"objectUrl": "s3://b/a.jpg"}] "videos": []}"#,
            &["IMAGE a.jpg <- s3://b/a.jpg", "line 1, column 44: expected , or } after a value (fatal)"],
        ),
        (
            r#"{"images": [{"objectUrl": "s3://b/a.jpg"}"#,
            &[
                "IMAGE a.jpg <- s3://b/a.jpg",
                "images: line 1, column 42: the manifest ends too early: the JSON is incomplete (fatal)",
            ],
        ),
        (
            r#"{"images": [{"objectUrl": "s3://b/a"#,
            &["images[0]: line 1, column 36: the manifest ends too early: the JSON is incomplete (fatal)"],
        ),
        (
            r#"{"images": [tru]}"#,
            &["images[0]: line 1, column 15: invalid JSON: incomplete or unknown value (fatal)"],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(shown(&json(text).await), expected, "{text}");
    }
}

#[tokio::test]
async fn json_the_top_level_must_be_one_object_of_known_keys() {
    let arrays = "videos, images, image_groups, image_sequences, dicom_series, audio, text, pdf";
    let cases: [(&str, String); 14] = [
        ("", "the manifest is empty (fatal)".into()),
        (" \n\t", "the manifest is empty (fatal)".into()),
        (
            r#"[{"objectUrl": "s3://b/a.jpg"}]"#,
            "line 1, column 1: the manifest must be a JSON object, starting with { (fatal)".into(),
        ),
        (
            "\u{FEFF}\n  \"x\"",
            "line 2, column 3: the manifest must be a JSON object, starting with { (fatal)".into(),
        ),
        ("{} x", "line 1, column 4: unexpected data after the end of the manifest object (fatal)".into()),
        ("{}{}", "line 1, column 3: unexpected data after the end of the manifest object (fatal)".into()),
        (r#"{"images": [],}"#, "line 1, column 15: expected a key in double quotes (fatal)".into()),
        ("{images: []}", "line 1, column 2: expected a key in double quotes (fatal)".into()),
        (r#"{"images" []}"#, "line 1, column 11: expected : after the key \"images\" (fatal)".into()),
        (
            r#"{"image": []}"#,
            format!("line 1, column 2: unknown key \"image\"; a manifest holds the arrays {arrays} and skip_duplicate_urls (fatal)"),
        ),
        (r#"{"images": [], "images": []}"#, "line 1, column 16: the key \"images\" appears twice (fatal)".into()),
        (r#"{"images": {"objectUrl": "s3://b/a.jpg"}}"#, "line 1, column 12: images must be an array (fatal)".into()),
        (r#"{"images": "s3://b/a.jpg"}"#, "line 1, column 12: images must be an array (fatal)".into()),
        (r#"{"ima\qes": []}"#, "line 1, column 7: invalid JSON: invalid escape (fatal)".into()),
    ];
    for (text, expected) in cases {
        assert_eq!(shown(&json(text).await), [expected], "{text}");
    }
    for text in [
        "{}",
        " { } \n",
        r#"{"images": null, "videos": []}"#,
        r#"{"images": [ ]}"#,
    ] {
        assert_eq!(json(text).await, [], "{text}");
    }
}

#[tokio::test]
async fn json_strings_may_hold_brackets_quotes_and_escapes() {
    let text = r#"{"images": [
        {"objectUrl": "s3://b/a\/b.jpg", "title": "] } [ { \" \\",
         "clientMetadata": {"nested": [{"a": "]"}, [1, [2]]], "s": "\u00e9\"}"}},
        {"objectUrl": "s3://b/\u00e9.jpg"},
        {"objectUrl": "s3://b/c.jpg", "title": "日本語"}
    ]}"#;
    let entries = ok(json(text).await);
    assert_eq!(entries[0].object_urls, ["s3://b/a/b.jpg"]);
    assert_eq!(entries[0].title, r#"] } [ { " \"#);
    assert_eq!(
        entries[0].client_metadata,
        Some(json!({"nested": [{"a": "]"}, [1, [2]]], "s": "é\"}"}))
    );
    assert_eq!(
        (
            entries[1].object_urls[0].as_str(),
            entries[1].title.as_str()
        ),
        ("s3://b/é.jpg", "é.jpg")
    );
    assert_eq!(entries[2].title, "日本語");
}

#[tokio::test]
async fn json_whitespace_and_a_byte_order_mark_are_allowed_anywhere_between_tokens() {
    let spaced = "\u{FEFF} \r\n\t{ \n \"images\" \t:\r\n [ \n {\"objectUrl\":\"s3://b/a.jpg\"} \n , \n {\"objectUrl\":\"s3://b/b.jpg\"}\n ] \n , \"skip_duplicate_urls\" : true \n } \n\n";
    let compact = r#"{"images":[{"objectUrl":"s3://b/a.jpg"},{"objectUrl":"s3://b/b.jpg"}],"skip_duplicate_urls":true}"#;
    for text in [spaced, compact] {
        let (items, skip) = parse_with(text, JSON, limits()).await;
        assert_eq!(
            shown(&items),
            ["IMAGE a.jpg <- s3://b/a.jpg", "IMAGE b.jpg <- s3://b/b.jpg"]
        );
        assert_eq!(skip, Some(true));
    }
}

// ---- limits ----

#[tokio::test]
async fn limits_max_entries_counts_every_entry() {
    let limits = ManifestLimits {
        max_entries: 2,
        ..ManifestLimits::default()
    };
    let over = "the manifest lists more than 2 entries, the limit (max_entries) (fatal)";
    let cases: [(ManifestFormat, &str, &[&str]); 5] = [
        (
            CSV,
            "objectUrl\ns3://b/1.jpg\ns3://b/2.jpg\n",
            &["IMAGE 1.jpg <- s3://b/1.jpg", "IMAGE 2.jpg <- s3://b/2.jpg"],
        ),
        (
            CSV,
            "objectUrl\ns3://b/1.jpg\ns3://b/2.jpg\ns3://b/3.jpg\n",
            &[
                "IMAGE 1.jpg <- s3://b/1.jpg",
                "IMAGE 2.jpg <- s3://b/2.jpg",
                over,
            ],
        ),
        (
            CSV,
            "objectUrl\n\ns3://b/1.jpg\n\"\"\n\ns3://b/3.jpg\n",
            &[
                "IMAGE 1.jpg <- s3://b/1.jpg",
                "line 4: objectUrl is missing",
                over,
            ],
        ),
        (
            JSON,
            r#"{"videos": [{"objectUrl": "s3://b/v.mp4"}], "images": [{"objectUrl": "s3://b/1.jpg"}]}"#,
            &["VIDEO v.mp4 <- s3://b/v.mp4", "IMAGE 1.jpg <- s3://b/1.jpg"],
        ),
        (
            JSON,
            r#"{"videos": [{"objectUrl": "s3://b/v.mp4"}], "images": [{"objectUrl": "s3://b/1.jpg"}, {"objectUrl": "s3://b/2.jpg"}]}"#,
            &[
                "VIDEO v.mp4 <- s3://b/v.mp4",
                "IMAGE 1.jpg <- s3://b/1.jpg",
                over,
            ],
        ),
    ];
    for (format, text, expected) in cases {
        assert_eq!(
            shown(&parse_with(text, format, limits).await.0),
            expected,
            "{text}"
        );
    }
}

#[tokio::test]
async fn limits_max_url_len_is_checked_for_every_url() {
    let limits = ManifestLimits {
        max_url_len: "s3://b/abc.jpg".len(),
        ..ManifestLimits::default()
    };
    let (items, _) = parse_with("objectUrl\ns3://b/abc.jpg\ns3://b/abcd.jpg\n", CSV, limits).await;
    assert_eq!(
        shown(&items),
        [
            "IMAGE abc.jpg <- s3://b/abc.jpg",
            "line 3: objectUrl is 15 bytes long, over the limit of 14 bytes (max_url_len)",
        ]
    );
    let text = r#"{"image_groups": [{"objectUrl_0": "s3://b/abc.jpg", "objectUrl_1": "s3://b/abcd.jpg"}]}"#;
    assert_eq!(
        shown(&parse_with(text, JSON, limits).await.0),
        ["image_groups[0]: objectUrl_1 is 15 bytes long, over the limit of 14 bytes (max_url_len)"]
    );
    let long = format!("s3://b/{}.jpg", "x".repeat(2048));
    assert_eq!(
        shown(&csv(format!("objectUrl\n{long}\n")).await),
        ["line 2: objectUrl is 2059 bytes long, over the limit of 2048 bytes (max_url_len)"]
    );
}

#[tokio::test]
async fn limits_max_bytes_counts_every_byte() {
    let csv_text = "objectUrl\ns3://b/a.jpg\ns3://b/b.jpg\n";
    let json_text = r#"{"images": [{"objectUrl": "s3://b/a.jpg"}]}   "#;
    for (format, text, last) in [
        (CSV, csv_text, "IMAGE b.jpg <- s3://b/b.jpg"),
        (JSON, json_text, "IMAGE a.jpg <- s3://b/a.jpg"),
    ] {
        let exact = ManifestLimits {
            max_bytes: text.len() as u64,
            ..ManifestLimits::default()
        };
        let (items, _) = parse_with(text, format, exact).await;
        assert_eq!(
            shown(&items).last().map(String::as_str),
            Some(last),
            "{text}"
        );
        assert!(items.iter().all(Result::is_ok), "{text}");
        let short = ManifestLimits {
            max_bytes: text.len() as u64 - 1,
            ..ManifestLimits::default()
        };
        let (items, _) = parse_with(text, format, short).await;
        assert_eq!(
            shown(&items),
            [
                "IMAGE a.jpg <- s3://b/a.jpg".to_owned(),
                format!(
                    "the manifest is larger than {} bytes, the limit (max_bytes) (fatal)",
                    text.len() - 1
                ),
            ],
            "{text}"
        );
    }
}

#[tokio::test]
async fn limits_one_entry_is_at_most_max_entry_bytes() {
    let big = "x".repeat(MAX_ENTRY_BYTES);
    let json_text = format!(
        r#"{{"images": [{{"objectUrl": "s3://b/a.jpg"}}, {{"objectUrl": "s3://b/b.jpg", "clientMetadata": {{"blob": "{big}"}}}}]}}"#
    );
    let csv_text = format!("objectUrl,title\ns3://b/a.jpg,ok\ns3://b/b.jpg,\"{big}\"\n");
    let cases = [
        (
            JSON,
            json_text,
            "images[1]: the entry is larger than 1048576 bytes, the limit for one entry (fatal)",
        ),
        (
            CSV,
            csv_text,
            "line 3: the record is larger than 1048576 bytes, the limit for one entry (fatal)",
        ),
    ];
    for (format, text, expected) in cases {
        for step in [usize::MAX, 4096] {
            let (items, _) = run(text.as_bytes(), format, limits(), step).await;
            let shown = shown(&items);
            assert_eq!(shown.len(), 2);
            assert!(shown[0].starts_with("IMAGE "));
            assert_eq!(shown[1], expected);
        }
    }
}

// ---- API ----

#[test]
fn errors_display_where_they_are() {
    let cases = [
        (
            ManifestError::new("objectUrl is missing")
                .at_line(7)
                .in_entry(5),
            "line 7: objectUrl is missing",
        ),
        (
            ManifestError::new("clientMetadata must be an object")
                .with_path(Some("images[3]"))
                .in_entry(3),
            "images[3]: clientMetadata must be an object",
        ),
        (
            ManifestError::new("invalid JSON: expected `,` or `}`")
                .at((12, 5))
                .with_path(Some("images[3]")),
            "images[3]: line 12, column 5: invalid JSON: expected `,` or `}`",
        ),
        (ManifestError::new("x").at((1, 1)), "line 1, column 1: x"),
        (
            ManifestError::new("the manifest is empty"),
            "the manifest is empty",
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn format_follows_the_file_extension() {
    assert_eq!(ManifestFormat::from_file_name("manifest.JSON"), Some(JSON));
    assert_eq!(
        ManifestFormat::from_file_name("s3://b/m.csv?versionId=1"),
        Some(CSV)
    );
    assert_eq!(ManifestFormat::from_file_name("m.csv.gz"), None);
    assert_eq!(ManifestFormat::from_file_name("manifest"), None);
    assert_eq!(ManifestFormat::from_file_name("dir.json/m"), None);
}

#[test]
fn default_limits_are_sane() {
    let limits = ManifestLimits::default();
    assert_eq!(
        (limits.max_entries, limits.max_url_len, limits.max_bytes),
        (100_000, 2048, 64 << 20)
    );
}

#[tokio::test]
async fn parse_all_is_all_or_nothing() {
    let parsed = parse_all(EVERY_ARRAY.as_bytes(), JSON, limits())
        .await
        .unwrap();
    assert_eq!(parsed.entries.len(), 10);
    assert_eq!(parsed.skip_duplicate_urls, Some(false));

    let e = parse_all(
        "objectUrl\ns3://b/a.jpg\n\"\"\nnot a url\n".as_bytes(),
        CSV,
        limits(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.to_string(), e.entry, e.fatal),
        ("line 3: objectUrl is missing".into(), Some(1), false)
    );

    let e = parse_all(
        r#"{"images": [{"objectUrl": "s3://b/a.jpg"}"#.as_bytes(),
        JSON,
        limits(),
    )
    .await
    .unwrap_err();
    assert!(e.fatal);
    assert_eq!(e.path.as_deref(), Some("images"));
}

#[tokio::test]
async fn parse_stream_yields_what_the_parser_does_and_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let text = "objectUrl,kind\ns3://b/a.jpg,\n,\ns3://b/c,video\n";
    let stream = parse_stream(text.as_bytes(), CSV, limits());
    assert_send(&stream);
    let items: Vec<Item> = stream.collect().await;
    assert_eq!(
        shown(&items),
        [
            "IMAGE a.jpg <- s3://b/a.jpg",
            "line 3: objectUrl is missing",
            "VIDEO c <- s3://b/c"
        ]
    );
    assert_eq!(items, csv(text).await);
}

#[tokio::test]
async fn read_errors_are_fatal() {
    struct Failing(bool);
    impl AsyncRead for Failing {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.0 {
                return Poll::Ready(Err(io::Error::other("connection reset")));
            }
            self.0 = true;
            buf.put_slice(b"objectUrl\ns3://b/a.jpg\ns3://b/b");
            Poll::Ready(Ok(()))
        }
    }
    let mut parser = ManifestParser::new(Failing(false), CSV, limits());
    let mut items = Vec::new();
    while let Some(item) = parser.next().await {
        items.push(item);
    }
    assert_eq!(
        shown(&items),
        [
            "IMAGE a.jpg <- s3://b/a.jpg",
            "could not read the manifest: connection reset (fatal)"
        ]
    );
}

#[tokio::test]
async fn example_fixtures_parse() {
    let text = include_str!("../../../tests/fixtures/manifests/example.json");
    let (items, skip) = parse_with(text, JSON, limits()).await;
    assert_eq!(
        shown(&items),
        [
            "VIDEO Chicken <- s3://annograph-demo/farm/chicken.mp4",
            "IMAGE farm/cow.jpg <- gs://annograph-demo/farm/cow.jpg",
            "IMAGE Sheep <- https://cdn.example.com/farm/sheep.png",
            "IMAGE_GROUP Barn walk <- s3://annograph-demo/barn/1.jpg s3://annograph-demo/barn/2.jpg s3://annograph-demo/barn/3.jpg",
            "IMAGE_SEQUENCE seq/0001.jpg <- s3://annograph-demo/seq/0001.jpg s3://annograph-demo/seq/0002.jpg",
            "DICOM_SERIES Chest CT <- s3://annograph-demo/ct/1.dcm s3://annograph-demo/ct/2.dcm",
            "AUDIO farm/rooster.wav <- az://annograph-demo/farm/rooster.wav",
            "TEXT notes/readme.txt <- s3://annograph-demo/notes/readme.txt",
            "PDF docs/report.pdf <- s3://annograph-demo/docs/report.pdf",
        ]
    );
    assert_eq!(skip, Some(true));
    let entries = ok(items);
    assert_eq!(entries[0].client_metadata, Some(json!({"farm": "north"})));
    assert_eq!(
        entries[0].media_metadata.as_ref().map(|m| m["fps"].clone()),
        Some(json!(25))
    );

    let text = include_str!("../../../tests/fixtures/manifests/example.csv");
    let items = csv(text).await;
    assert_eq!(
        shown(&items),
        [
            "VIDEO Chicken <- s3://annograph-demo/farm/chicken.mp4",
            "IMAGE farm/cow.jpg <- gs://annograph-demo/farm/cow.jpg",
            "IMAGE Sheep, in a field <- https://cdn.example.com/farm/sheep.png",
            "VIDEO Untyped blob <- s3://annograph-demo/blobs/abc123",
            "PDF Report \"final\" <- s3://annograph-demo/docs/report.pdf",
        ]
    );
    let entries = ok(items);
    assert_eq!(entries[4].client_metadata, Some(json!({"pages": 3})));
    assert_eq!(entries[4].line, Some(6));
}

// ---- streaming ----

const STREAMED: usize = 200_000;

/// A manifest made on demand: `piece(i)` is the text of piece `i`
/// (`None` after the last), generated only when the reader asks for more.
struct Generated<F> {
    piece: F,
    next: usize,
    pending: Vec<u8>,
    pos: usize,
    done: bool,
    produced: Arc<AtomicU64>,
}

impl<F> Generated<F> {
    fn new(produced: Arc<AtomicU64>, piece: F) -> Self {
        Generated {
            piece,
            next: 0,
            pending: Vec::new(),
            pos: 0,
            done: false,
            produced,
        }
    }
}

impl<F: FnMut(usize) -> Option<String> + Unpin> AsyncRead for Generated<F> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while buf.remaining() > 0 {
            if this.pos == this.pending.len() {
                if this.done {
                    break;
                }
                this.pending.clear();
                this.pos = 0;
                match (this.piece)(this.next) {
                    Some(text) => {
                        this.pending.extend_from_slice(text.as_bytes());
                        this.next += 1;
                    }
                    None => this.done = true,
                }
                continue;
            }
            let n = buf.remaining().min(this.pending.len() - this.pos);
            buf.put_slice(&this.pending[this.pos..this.pos + n]);
            this.pos += n;
            this.produced.fetch_add(n as u64, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

/// Reads a generated manifest entry by entry, checking each with `check`
/// and how far the generator ran ahead of the parser; prints the rate.
async fn stream_generated<F: FnMut(usize) -> Option<String> + Unpin>(
    name: &str,
    format: ManifestFormat,
    piece: F,
    mut check: impl FnMut(&ManifestEntry, &ManifestParser<Generated<F>>),
) -> ManifestParser<Generated<F>> {
    let produced = Arc::new(AtomicU64::new(0));
    let limits = ManifestLimits {
        max_entries: STREAMED,
        ..ManifestLimits::default()
    };
    let mut parser = ManifestParser::new(Generated::new(produced.clone(), piece), format, limits);
    let started = Instant::now();
    let (mut count, mut ahead) = (0, 0);
    while let Some(item) = parser.next().await {
        let entry = item.unwrap_or_else(|e| panic!("entry {count}: {e}"));
        assert_eq!(entry.index, count);
        check(&entry, &parser);
        count += 1;
        ahead = ahead.max(produced.load(Ordering::Relaxed) - parser.bytes_read());
    }
    let elapsed = started.elapsed();
    let total = produced.load(Ordering::Relaxed);
    println!(
        "{name}: {count} entries, {total} bytes in {elapsed:.2?}: {:.0} entries/s, {:.1} MB/s; \
         entry buffer at most {} bytes, generator at most {ahead} bytes ahead",
        count as f64 / elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64() / 1e6,
        parser.max_buffered(),
    );
    assert_eq!(count, STREAMED);
    assert_eq!(parser.bytes_read(), total, "read to the end");
    assert!(
        total > 150 * READ_BUFFER_BYTES as u64,
        "a manifest far larger than the buffers"
    );
    assert!(
        ahead <= READ_BUFFER_BYTES as u64,
        "the data was read only as needed: {ahead} bytes ahead"
    );
    assert!(
        parser.max_buffered() <= 256,
        "one entry buffered at a time: {}",
        parser.max_buffered()
    );
    parser
}

#[tokio::test]
async fn csv_200k_entries_stream_with_flat_memory() {
    let extensions = ["jpg", "mp4", "wav", "pdf"];
    let kinds = ["IMAGE", "VIDEO", "AUDIO", "PDF"];
    let piece = move |i: usize| match i {
        0 => Some("objectUrl,title,kind,clientMetadata\n".to_owned()),
        i if i <= STREAMED => {
            let n = i - 1;
            let extension = extensions[n % 4];
            Some(format!(
                "s3://bucket/data/{n:07}.{extension},\"File {n}, quoted\",,\"{{\"\"n\"\": {n}}}\"\r\n"
            ))
        }
        _ => None,
    };
    stream_generated("csv", CSV, piece, |entry, _| {
        let n = entry.index;
        assert_eq!(entry.line, Some(n as u64 + 2));
        assert_eq!(entry.kind.as_str(), kinds[n % 4]);
        assert_eq!(entry.title, format!("File {n}, quoted"));
        assert_eq!(entry.client_metadata, Some(json!({"n": n})));
    })
    .await;
}

#[tokio::test]
async fn json_200k_entries_stream_with_flat_memory() {
    const IMAGES: usize = 150_000;
    let piece = |i: usize| match i {
        0 => Some("{\n  \"images\": [\n".to_owned()),
        i if i <= IMAGES => {
            let n = i - 1;
            let separator = if n == 0 { "" } else { ",\n" };
            Some(format!(
                "{separator}    {{\"objectUrl\": \"s3://bucket/img/{n:07}.jpg\", \"title\": \"Image {n}\", \"clientMetadata\": {{\"n\": {n}}}}}"
            ))
        }
        i if i <= STREAMED => {
            let n = i - 1;
            let separator = if n == IMAGES {
                "\n  ],\n  \"image_groups\": [\n"
            } else {
                ",\n"
            };
            Some(format!(
                "{separator}    {{\"objectUrl_0\": \"s3://bucket/grp/{n:07}/0.jpg\", \"objectUrl_1\": \"s3://bucket/grp/{n:07}/1.jpg\", \"clientMetadata\": {{\"n\": {n}}}}}"
            ))
        }
        i if i == STREAMED + 1 => Some("\n  ],\n  \"skip_duplicate_urls\": true\n}\n".to_owned()),
        _ => None,
    };
    let parser = stream_generated("json", JSON, piece, |entry, parser| {
        let n = entry.index;
        assert_eq!(entry.client_metadata, Some(json!({"n": n})));
        if n < IMAGES {
            assert_eq!(entry.kind, FileKind::Image);
            assert_eq!(entry.title, format!("Image {n}"));
            assert_eq!(entry.object_urls.len(), 1);
        } else {
            assert_eq!(entry.kind, FileKind::ImageGroup);
            assert_eq!(
                entry.object_urls[1],
                format!("s3://bucket/grp/{n:07}/1.jpg")
            );
        }
        // Not read yet: it follows the arrays.
        assert_eq!(parser.skip_duplicate_urls(), None);
    })
    .await;
    assert_eq!(parser.skip_duplicate_urls(), Some(true));
}
