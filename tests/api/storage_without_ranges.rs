//! Storage that does not do ranges: an HTTP server that ignores `Range`
//! (Python's http.server, many static hosts) and answers every GET with
//! 200 and the whole object. Imports and connection tests still work, and
//! only the bytes the probe needs are taken from the stream: large objects
//! are never downloaded whole.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use annograph::import::probe::{probe, ProbeResult};
use annograph::storage::object::StoreObject;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use entity::enums::FileKind;
use serde_json::json;

use crate::helpers::*;
use crate::imports::{dataset_files, finished, fixtures, integration, mirrored_dataset, submit};
use crate::integrations::test_integration;

/// Zero bytes after the content of the padded objects: far more than any
/// socket buffers hold, so a server that sent them was read to the end.
const PADDING: u64 = 256 * 1024 * 1024;
/// The most bytes a padded object may have sent: its head, plus what the
/// loopback socket buffers take before the client hangs up.
const SENT_LIMIT: u64 = 32 * 1024 * 1024;
/// The server writes the body in pieces of this size.
const CHUNK: u64 = 64 * 1024;

/// One object of the server: `content` followed by `padding` zero bytes.
struct Object {
    content: Bytes,
    padding: u64,
}

impl Object {
    fn len(&self) -> u64 {
        self.content.len() as u64 + self.padding
    }

    fn piece(&self, at: u64) -> Bytes {
        let end = (at + CHUNK).min(self.len());
        let content_len = self.content.len() as u64;
        if at < content_len {
            self.content
                .slice(at as usize..end.min(content_len) as usize)
        } else {
            Bytes::from(vec![0u8; (end - at) as usize])
        }
    }
}

/// What the server saw and sent.
#[derive(Default)]
struct Served {
    gets: AtomicUsize,
    gets_with_range: AtomicUsize,
    /// Body bytes handed to the connection, per object name.
    sent: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Served {
    fn sent(&self, name: &str) -> u64 {
        self.sent
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |n| n.load(Ordering::SeqCst))
    }
}

/// Serves `objects` under `/media/` and ignores `Range`: every GET answers
/// 200 with the whole object (with its Content-Length), HEAD its headers.
async fn server_without_ranges(objects: HashMap<String, Object>) -> (String, Arc<Served>) {
    let objects = Arc::new(objects);
    let served = Arc::new(Served::default());
    let seen = served.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
        let (objects, served) = (objects.clone(), seen.clone());
        async move {
            let name = uri.path().trim_start_matches("/media/").to_owned();
            let Some(object) = objects.get(&name) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let len = object.len();
            if method == Method::HEAD {
                return Response::builder()
                    .header(header::CONTENT_LENGTH, len)
                    .body(Body::empty())
                    .unwrap();
            }
            served.gets.fetch_add(1, Ordering::SeqCst);
            if headers.contains_key(header::RANGE) {
                served.gets_with_range.fetch_add(1, Ordering::SeqCst);
            }
            let sent = served
                .sent
                .lock()
                .unwrap()
                .entry(name.clone())
                .or_default()
                .clone();
            let body = futures_util::stream::unfold(0u64, move |at| {
                let (objects, name, sent) = (objects.clone(), name.clone(), sent.clone());
                async move {
                    let object = objects.get(&name)?;
                    if at >= object.len() {
                        return None;
                    }
                    let piece = object.piece(at);
                    sent.fetch_add(piece.len() as u64, Ordering::SeqCst);
                    let next = at + piece.len() as u64;
                    Some((Ok::<_, std::io::Error>(piece), next))
                }
            });
            Response::builder()
                .header(header::CONTENT_LENGTH, len)
                .body(Body::from_stream(body))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/media/"), served)
}

fn fixture(name: &str) -> Bytes {
    Bytes::from(std::fs::read(fixtures().join(name)).unwrap())
}

/// What the probe finds in a fixture read from the local disk.
async fn probed_locally(name: &str, kind: &str) -> ProbeResult {
    let store = object_store::local::LocalFileSystem::new_with_prefix(fixtures()).unwrap();
    let object = StoreObject::new(Arc::new(store), object_store::path::Path::from(name));
    let kind = FileKind::parse(kind).expect("a file kind");
    probe(&object, kind, name).await.unwrap()
}

#[tokio::test]
async fn an_import_from_a_server_that_ignores_ranges_succeeds_without_downloading_large_objects() {
    let mut objects: HashMap<String, Object> = HashMap::new();
    for name in ["photo.jpg", "image.png", "cfr.mp4", "vfr.mp4"] {
        objects.insert(
            name.to_owned(),
            Object {
                content: fixture(name),
                padding: 0,
            },
        );
    }
    // A PNG with a long tail after its last chunk.
    objects.insert(
        "large.png".to_owned(),
        Object {
            content: fixture("image.png"),
            padding: PADDING,
        },
    );
    // An MP4 whose moov comes first, followed by a large `free` box.
    let mut mp4 = fixture("faststart.mp4").to_vec();
    mp4.extend_from_slice(&u32::try_from(PADDING + 8).unwrap().to_be_bytes());
    mp4.extend_from_slice(b"free");
    objects.insert(
        "large.mp4".to_owned(),
        Object {
            content: Bytes::from(mp4),
            padding: PADDING,
        },
    );
    let sizes: HashMap<String, u64> = objects.iter().map(|(k, o)| (k.clone(), o.len())).collect();
    let (base, served) = server_without_ranges(objects).await;

    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let storage = integration(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": base, "allowHttp": true }),
    )
    .await;
    let (dataset, _) = mirrored_dataset(&app, &ann).await;
    let entries = [
        ("photo.jpg", "IMAGE", "photo.jpg"),
        ("image.png", "IMAGE", "image.png"),
        ("cfr.mp4", "VIDEO", "cfr.mp4"),
        ("vfr.mp4", "VIDEO", "vfr.mp4"),
        ("large.png", "IMAGE", "image.png"),
        ("large.mp4", "VIDEO", "faststart.mp4"),
    ];
    let mut manifest = String::from("objectUrl,title,kind\n");
    for (name, kind, _) in entries {
        manifest.push_str(&format!("{base}{name},{name},{kind}\n"));
    }
    let job = submit(&app, &ann, &dataset, &storage, &manifest, json!({})).await;
    let job = finished(&app, &ann, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job:#}");
    assert_eq!(job["succeeded"], 6, "{job:#}");
    assert!(
        served.gets_with_range.load(Ordering::SeqCst) > 0,
        "the probe asked for ranges"
    );

    let files = dataset_files(&app, &ann, &dataset).await;
    for (name, kind, local) in entries {
        let file = files
            .iter()
            .find(|f| f["title"] == name)
            .unwrap_or_else(|| panic!("no file {name} in {files:#?}"));
        let expected = probed_locally(local, kind).await;
        assert_eq!(file["sizeBytes"].as_u64(), Some(sizes[name]), "{name}");
        assert_eq!(
            file["mimeType"].as_str(),
            expected.mime_type.as_deref(),
            "{name}"
        );
        assert_eq!(
            file["width"].as_u64(),
            expected.width.map(u64::from),
            "{name}"
        );
        assert_eq!(
            file["height"].as_u64(),
            expected.height.map(u64::from),
            "{name}"
        );
        assert_eq!(file["frameRate"].as_f64(), expected.frame_rate, "{name}");
        assert_eq!(file["frameCount"].as_u64(), expected.frame_count, "{name}");
        assert_eq!(
            file["variableFrameRate"].as_bool(),
            expected.variable_frame_rate,
            "{name}"
        );
    }
    let by_name = |name: &str| files.iter().find(|f| f["title"] == name).unwrap().clone();
    assert_eq!(
        (
            by_name("cfr.mp4")["width"].as_u64(),
            by_name("cfr.mp4")["height"].as_u64()
        ),
        (Some(160), Some(120))
    );
    assert_eq!(by_name("cfr.mp4")["variableFrameRate"], false);
    assert_eq!(by_name("vfr.mp4")["variableFrameRate"], true);
    assert!(by_name("large.mp4")["frameRate"].as_f64().unwrap() > 0.0);

    // The large objects were read as far as needed, then the connection
    // was dropped: the server never got to send their tails.
    for name in ["large.png", "large.mp4"] {
        let sent = served.sent(name);
        assert!(
            sent > 0 && sent < SENT_LIMIT,
            "{name}: the server sent {sent} of {} bytes",
            sizes[name]
        );
    }

    // A connection test of one object answers ok.
    let tested = test_integration(&app, &ann, &storage, Some(&format!("{base}large.mp4"))).await;
    assert_eq!(tested["ok"], true, "{tested:#}");
    let tested = test_integration(&app, &ann, &storage, Some(&format!("{base}cfr.mp4"))).await;
    assert_eq!(tested["ok"], true, "{tested:#}");
}
