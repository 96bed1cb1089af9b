//! S3 integrations against a real S3-compatible server (moto, started per
//! test by [`crate::support::moto`]).

use annograph::import::probe::{probe, RangeReader};
use annograph::storage;
use annograph::storage::object::StoreObject;
use entity::enums::FileKind;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::moto::{start, REGION};

async fn create(app: &TestApp, user: &TestUser, config: Value, credentials: Value) -> Value {
    crate::integrations::create(app, user, "S3", config, credentials).await
}

async fn test_integration(
    app: &TestApp,
    user: &TestUser,
    id: &Value,
    object: Option<&str>,
) -> Value {
    crate::integrations::test_integration(app, user, id.as_str().unwrap(), object).await
}

fn with(mut config: Value, key: &str, value: &str) -> Value {
    config[key] = json!(value);
    config
}

/// `object` holds `cfr.mp4` (`bytes`): its size and ranges read right, and
/// the probe finds its 160x120 constant-rate 50 frames.
pub async fn assert_reads_and_probes_cfr(object: &StoreObject, url: &str, bytes: &[u8]) {
    let len = bytes.len() as u64;
    assert_eq!(object.len().await.unwrap(), len, "{url}");
    assert_eq!(object.read_range(0, 16).await.unwrap(), &bytes[..16]);
    assert_eq!(
        object.read_range(1000, 1234).await.unwrap(),
        &bytes[1000..1234],
        "{url}"
    );
    assert_eq!(
        object.read_range(len - 7, len).await.unwrap(),
        &bytes[bytes.len() - 7..]
    );
    let video = probe(object, FileKind::Video, url).await.unwrap();
    assert_eq!(
        (video.width, video.height, video.frame_count),
        (Some(160), Some(120), Some(50)),
        "{url}"
    );
    assert_eq!(video.variable_frame_rate, Some(false));
    assert_eq!(video.size_bytes, len);
}

/// A failed connection test whose message says `words`.
fn assert_fails_with(result: &Value, words: &str) {
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap_or_default()
            .contains(words),
        "expected {words:?} in {result}"
    );
}

fn assert_never_shown(responses: &[String], secrets: &[&str]) {
    for text in responses {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
}

#[tokio::test]
async fn s3_integrations_reach_their_bucket_and_objects_on_an_s3_compatible_server() {
    // moto checks no signatures yet: any key reads.
    const KEY_ID: &str = "AKIAMOTOKEYID0000042";
    const SECRET: &str = "moto-secret-wJalrXUtnFEMI/K7MDENG";
    let moto = start().await;
    moto.bucket("farm").await;
    let size = moto
        .put_fixture("farm", "videos/cfr.mp4", "cfr.mp4")
        .await
        .len();
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let credentials = json!({ "accessKeyId": KEY_ID, "secretAccessKey": SECRET });
    let mut responses = Vec::new();

    let videos = create(
        &app,
        &ann,
        with(moto.config("farm"), "prefix", "videos"),
        credentials.clone(),
    )
    .await;
    responses.push(videos.to_string());
    assert_eq!(videos["hasCredentials"], true);
    assert_eq!(
        videos["config"],
        json!({ "bucket": "farm", "region": REGION, "endpoint": format!("{}/", moto.endpoint), "allowHttp": true, "prefix": "videos" })
    );
    let id = &videos["id"];
    let result = test_integration(&app, &ann, id, None).await;
    assert_eq!(
        result,
        json!({ "ok": true, "message": "connected: objects are listed" })
    );
    for url in [
        "s3://farm/videos/cfr.mp4".to_owned(),
        format!("{}/farm/videos/cfr.mp4", moto.endpoint),
    ] {
        let result = test_integration(&app, &ann, id, Some(&url)).await;
        assert_eq!(
            result,
            json!({ "ok": true, "message": format!("connected: the object exists ({size} bytes)") }),
            "{url}"
        );
        responses.push(result.to_string());
    }
    let result = test_integration(&app, &ann, id, Some("s3://farm/videos/missing.mp4")).await;
    assert_eq!(
        result,
        json!({ "ok": false, "message": "the object was not found" })
    );
    responses.push(result.to_string());

    // An empty prefix connects; a bucket the server does not have does not.
    let empty = create(
        &app,
        &ann,
        with(moto.config("farm"), "prefix", "photos"),
        credentials.clone(),
    )
    .await;
    let result = test_integration(&app, &ann, &empty["id"], None).await;
    assert_eq!(
        result,
        json!({ "ok": true, "message": "connected: nothing is stored under the prefix yet" })
    );
    let missing = create(&app, &ann, moto.config("barn"), credentials.clone()).await;
    responses.push(missing.to_string());
    // Listing passes on the server's error code; a HEAD answer has no body.
    for (object, words) in [
        (None, "404 Not Found (NoSuchBucket)"),
        (Some("s3://barn/cfr.mp4"), "the object was not found"),
    ] {
        let result = test_integration(&app, &ann, &missing["id"], object).await;
        assert_fails_with(&result, words);
        responses.push(result.to_string());
    }

    let (_, body) = app
        .post(
            Some(&ann.token),
            "{ integrations { nodes { id title provider config hasCredentials } } }",
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    responses.push(body.to_string());
    assert_never_shown(&responses, &[KEY_ID, SECRET, "wJalrXUtnFEMI"]);
}

#[tokio::test]
async fn wrong_s3_credentials_fail_the_connection_test_without_being_shown() {
    const WRONG_KEY_ID: &str = "AKIAWRONGKEYID000042";
    const WRONG_SECRET: &str = "wrong-secret-bPxRfiCYEXAMPLEKEY+z";
    let mut moto = start().await;
    moto.require_signatures().await;
    moto.bucket("farm").await;
    moto.put_fixture("farm", "cfr.mp4", "cfr.mp4").await;
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let mut responses = Vec::new();

    let right = create(&app, &ann, moto.config("farm"), moto.credentials()).await;
    responses.push(right.to_string());
    for object in [None, Some("s3://farm/cfr.mp4")] {
        let result = test_integration(&app, &ann, &right["id"], object).await;
        assert_eq!(result["ok"], true, "{result}");
        responses.push(result.to_string());
    }

    // A wrong secret and an unknown key: moto answers both with a 403.
    for (credentials, code) in [
        (
            json!({ "accessKeyId": moto.access_key_id, "secretAccessKey": WRONG_SECRET }),
            "SignatureDoesNotMatch",
        ),
        (
            json!({ "accessKeyId": WRONG_KEY_ID, "secretAccessKey": moto.secret_access_key }),
            "InvalidAccessKeyId",
        ),
    ] {
        let wrong = create(&app, &ann, moto.config("farm"), credentials).await;
        responses.push(wrong.to_string());
        for (object, words) in [
            (None, format!("403 Forbidden ({code})")),
            (
                Some("s3://farm/cfr.mp4"),
                "access denied: the credentials lack permission for this".to_owned(),
            ),
        ] {
            let result = test_integration(&app, &ann, &wrong["id"], object).await;
            assert_fails_with(&result, &words);
            responses.push(result.to_string());
        }
    }
    assert_never_shown(
        &responses,
        &[
            WRONG_KEY_ID,
            WRONG_SECRET,
            &moto.access_key_id,
            &moto.secret_access_key,
        ],
    );
}

#[tokio::test]
async fn store_objects_probe_videos_over_s3_with_ranged_reads() {
    let moto = start().await;
    moto.bucket("farm").await;
    let cfr = moto.put_fixture("farm", "clips/cfr.mp4", "cfr.mp4").await;
    moto.put_fixture("farm", "clips/vfr.mp4", "vfr.mp4").await;
    moto.put_fixture("farm", "clips/image.png", "image.png")
        .await;
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let created = create(&app, &ann, moto.config("farm"), moto.credentials()).await;
    let (_, id) = annograph::ids::decode(created["id"].as_str().unwrap()).expect("global ID");
    let integration = entity::integration::Entity::find_by_id(id)
        .one(&app.server.state.services.db)
        .await
        .unwrap()
        .expect("stored");
    let object = |url: &str| {
        StoreObject::new(
            storage::store(&app.server.state.services.storage, &integration).unwrap(),
            storage::object_path(&integration, url).unwrap(),
        )
    };

    for url in [
        "s3://farm/clips/cfr.mp4".to_owned(),
        format!("{}/farm/clips/cfr.mp4", moto.endpoint),
    ] {
        assert_reads_and_probes_cfr(&object(&url), &url, &cfr).await;
    }
    let url = "s3://farm/clips/vfr.mp4";
    let probed = probe(&object(url), FileKind::Video, url).await.unwrap();
    assert_eq!(
        (probed.width, probed.height, probed.frame_count),
        (Some(160), Some(120), Some(50))
    );
    assert_eq!(probed.variable_frame_rate, Some(true));
    let url = "s3://farm/clips/image.png";
    let probed = probe(&object(url), FileKind::Image, url).await.unwrap();
    assert!(probed.width.is_some() && probed.height.is_some());
    assert_eq!(probed.mime_type.as_deref(), Some("image/png"));

    // A missing object is unreachable, not a panic.
    assert!(object("s3://farm/clips/missing.mp4").len().await.is_err());
}

#[tokio::test]
async fn a_manifest_imports_from_s3_with_metadata_and_the_variable_frame_rate_flag() {
    let mut moto = start().await;
    moto.require_signatures().await;
    moto.bucket("farm").await;
    for (key, fixture) in [
        ("videos/cfr.mp4", "cfr.mp4"),
        ("videos/vfr.mp4", "vfr.mp4"),
        ("images/photo.jpg", "photo.jpg"),
        ("images/notes.txt", "notes.txt"),
    ] {
        moto.put_fixture("farm", key, fixture).await;
    }
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let storage = create(&app, &ann, moto.config("farm"), moto.credentials()).await;
    let storage = storage["id"].as_str().unwrap();
    let (dataset, _) = crate::imports::mirrored_dataset(&app, &ann).await;
    let endpoint_url = format!("{}/farm/images/photo.jpg", moto.endpoint);
    let manifest = json!({
        "videos": [
            { "objectUrl": "s3://farm/videos/cfr.mp4", "title": "Constant" },
            { "objectUrl": "s3://farm/videos/vfr.mp4", "title": "Variable" }
        ],
        "images": [
            { "objectUrl": endpoint_url, "title": "Photo" },
            { "objectUrl": "s3://farm/images/notes.txt", "title": "Notes" },
            { "objectUrl": "s3://farm/images/missing.jpg", "title": "Missing" }
        ]
    })
    .to_string();
    let job = crate::imports::submit(
        &app,
        &ann,
        &dataset,
        storage,
        &manifest,
        json!({ "ignore": true }),
    )
    .await;
    let job = crate::imports::finished(&app, &ann, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job:#}");
    assert_eq!(
        (
            job["total"].as_i64(),
            job["succeeded"].as_i64(),
            job["failed"].as_i64()
        ),
        (Some(5), Some(3), Some(2))
    );
    let codes: Vec<&str> = job["errors"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["UNSUPPORTED", "UNREACHABLE"]);

    let files = crate::imports::dataset_files(&app, &ann, &dataset).await;
    let file = |title: &str| files.iter().find(|f| f["title"] == title).unwrap().clone();
    assert_eq!(file("Constant")["variableFrameRate"], false);
    assert_eq!(file("Constant")["frameCount"], 50);
    assert_eq!(file("Variable")["variableFrameRate"], true);
    assert_eq!(file("Photo")["mimeType"], "image/jpeg");
    assert!(file("Photo")["width"].as_i64().unwrap() > 0);
    // The credentials appear nowhere in what the job reports.
    assert_never_shown(
        &[job.to_string(), Value::Array(files).to_string()],
        &[moto.secret_access_key.as_str()],
    );
}
