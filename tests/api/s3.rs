//! S3 integrations against a real S3-compatible server: `moto_server`, one
//! per test on a loopback port, killed when the test's [`Moto`] is dropped.
//!
//! The harness finds `moto_server` at `ANNOGRAPH_MOTO_SERVER`, then in
//! `target/moto/venv`, then on `PATH`; failing all three it installs the
//! pinned release into `target/moto/venv` (CI does this before the tests).
//!
//! moto accepts any credentials until [`Moto::require_signatures`] turns on
//! its signature checks, with a key of its own.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use annograph::import::probe::{probe, RangeReader};
use annograph::storage;
use annograph::storage::object::StoreObject;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::*;

/// What the harness installs when no `moto_server` is found.
const MOTO_REQUIREMENT: &str = "moto[server]==5.2.1";

/// The region of every bucket moto serves here.
pub const REGION: &str = "us-east-1";

/// How long moto may take to answer after it is started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `moto_server`, killed on drop.
pub struct Moto {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub endpoint: String,
    /// The key moto checks requests against: `test`/`test` (anything goes)
    /// until [`Moto::require_signatures`].
    pub access_key_id: String,
    pub secret_access_key: String,
    signatures_required: bool,
    http: reqwest::Client,
    _server: KillOnDrop,
    _log: tempfile::NamedTempFile,
}

/// A child process killed and waited for on drop, so that none is left, not
/// even a zombie (a killed moto exits at once).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a `moto_server` on a free loopback port and waits until it answers.
pub async fn start() -> Moto {
    let program = moto_server().await;
    let mut failures = Vec::new();
    // The port is free when chosen, but another process may take it before
    // moto binds it: then moto exits, and another port is tried.
    for _ in 0..5 {
        match try_start(&program).await {
            Ok(moto) => return moto,
            Err(failure) => failures.push(failure),
        }
    }
    panic!(
        "{} did not start:\n{}",
        program.display(),
        failures.join("\n---\n")
    );
}

async fn try_start(program: &Path) -> Result<Moto, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let log = tempfile::NamedTempFile::new().expect("moto log file");
    let output = || Stdio::from(log.reopen().expect("moto log file"));
    let server = StdCommand::new(program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let mut server = KillOnDrop(server);
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let started = Instant::now();
    loop {
        let logged = std::fs::read_to_string(log.path()).unwrap_or_default();
        if let Ok(Some(status)) = server.0.try_wait() {
            return Err(format!("moto exited ({status}):\n{logged}"));
        }
        // Werkzeug prints this once it listens: only then is an answer on
        // the port sure to come from this server.
        if logged.contains(&format!("Running on {endpoint}")) {
            let answer = http.get(format!("{endpoint}/")).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                break;
            }
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            return Err(format!(
                "moto did not answer within {STARTUP_TIMEOUT:?}:\n{logged}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(Moto {
        endpoint,
        access_key_id: "test".to_owned(),
        secret_access_key: "test".to_owned(),
        signatures_required: false,
        http,
        _server: server,
        _log: log,
    })
}

impl Moto {
    /// Creates a bucket.
    pub async fn bucket(&self, name: &str) {
        // moto creates buckets for unsigned requests while it checks none.
        if self.signatures_required {
            self.set_auth(false).await;
        }
        let response = self
            .http
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("moto answers");
        assert!(
            response.status().is_success(),
            "creating bucket {name}: {}",
            response.status()
        );
        if self.signatures_required {
            self.set_auth(true).await;
        }
    }

    /// Stores `bytes` at `key` of `bucket`.
    pub async fn put(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        let path = ObjectPath::parse(key).expect("an object key");
        self.store(bucket)
            .put(&path, PutPayload::from(bytes.into()))
            .await
            .unwrap_or_else(|e| panic!("storing {bucket}/{key}: {e}"));
    }

    /// Stores `tests/fixtures/media/<fixture>` at `key` of `bucket`; returns
    /// its bytes.
    pub async fn put_fixture(&self, bucket: &str, key: &str, fixture: &str) -> Vec<u8> {
        let bytes = std::fs::read(fixtures().join(fixture)).expect("fixture");
        self.put(bucket, key, bytes.clone()).await;
        bytes
    }

    /// A client for `bucket` with the current key.
    pub fn store(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region(REGION)
            .with_bucket_name(bucket)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .build()
            .expect("S3 client")
    }

    /// The `config` of an S3 integration reading `bucket` here.
    pub fn config(&self, bucket: &str) -> Value {
        json!({ "bucket": bucket, "region": REGION, "endpoint": self.endpoint, "allowHttp": true })
    }

    /// The `credentials` of an S3 integration: the current key.
    pub fn credentials(&self) -> Value {
        json!({ "accessKeyId": self.access_key_id, "secretAccessKey": self.secret_access_key })
    }

    /// From now on moto checks signatures and IAM permissions: the key
    /// becomes one moto made, allowed everything on S3, and a wrong secret or
    /// an unknown key gets a 403. [`Moto::bucket`] and [`Moto::put`] still work.
    pub async fn require_signatures(&mut self) {
        if self.signatures_required {
            return;
        }
        // IAM calls while moto checks nothing: the service is read from the
        // credential scope, the signature is not looked at.
        self.iam(&[("Action", "CreateUser"), ("UserName", "tester")])
            .await;
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "tester"),
            ("PolicyName", "s3"),
            (
                "PolicyDocument",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            ),
        ])
        .await;
        let created = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", "tester")])
            .await;
        let field = |name: &str| {
            created
                .split_once(&format!("<{name}>"))
                .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
                .map(|(value, _)| value.to_owned())
                .unwrap_or_else(|| panic!("no {name} in {created}"))
        };
        self.access_key_id = field("AccessKeyId");
        self.secret_access_key = field("SecretAccessKey");
        self.set_auth(true).await;
        self.signatures_required = true;
    }

    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let response = self
            .http
            .post(format!("{}/", self.endpoint))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )
            .form(&[params, &[("Version", "2010-05-08")]].concat())
            .send()
            .await
            .expect("moto answers");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "IAM {params:?}: {status} {body}");
        body
    }

    /// Turns moto's checks of signatures and IAM permissions on or off.
    async fn set_auth(&self, on: bool) {
        // The number of requests to let through unchecked.
        let unchecked = if on { "0" } else { "inf" };
        let response = self
            .http
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .body(unchecked)
            .send()
            .await
            .expect("moto answers");
        assert!(response.status().is_success(), "reset-auth: {response:?}");
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media")
}

// ---- finding or installing moto_server -------------------------------------

/// The `moto_server` to run, looked up (and installed if need be) once per
/// test process.
async fn moto_server() -> PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    if let Some(program) = PROGRAM.get() {
        return program.clone();
    }
    // Concurrent tests wait here for the first one's lookup or install.
    tokio::task::spawn_blocking(|| PROGRAM.get_or_init(find_or_install).clone())
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

fn moto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto")
}

fn venv_moto_server() -> PathBuf {
    moto_dir().join("venv/bin/moto_server")
}

/// Names what the venv was made with; a venv of another pin is remade.
fn venv_requirement() -> PathBuf {
    moto_dir().join("venv/requirement")
}

/// The venv's `moto_server`, when it is of [`MOTO_REQUIREMENT`] and runs.
fn venv_ready() -> bool {
    std::fs::read_to_string(venv_requirement()).is_ok_and(|r| r == MOTO_REQUIREMENT)
        && runs(&venv_moto_server())
}

fn find_or_install() -> PathBuf {
    if let Some(program) = std::env::var_os("ANNOGRAPH_MOTO_SERVER").map(PathBuf::from) {
        if runs(&program) {
            return program;
        }
    }
    if !venv_ready() {
        let on_path = PathBuf::from("moto_server");
        if runs(&on_path) {
            return on_path;
        }
        install();
    }
    venv_moto_server()
}

fn runs(program: &Path) -> bool {
    StdCommand::new(program)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs moto into `target/moto/venv`, one test process at a time.
fn install() {
    let dir = moto_dir();
    std::fs::create_dir_all(&dir).expect("target/moto");
    let lock: File = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .expect("target/moto/lock");
    // Released when `lock` is closed, also if this process dies.
    lock.lock().expect("lock target/moto/lock");
    if venv_ready() {
        // Another test process installed it while this one waited.
        return;
    }
    let venv = dir.join("venv");
    // What an interrupted install left.
    let _ = std::fs::remove_dir_all(&venv);
    succeed(StdCommand::new("python3").arg("-m").arg("venv").arg(&venv));
    succeed(StdCommand::new(venv.join("bin/pip")).args(["install", "--quiet", MOTO_REQUIREMENT]));
    assert!(
        runs(&venv_moto_server()),
        "{MOTO_REQUIREMENT} was installed into {} but moto_server does not run",
        venv.display()
    );
    std::fs::write(venv_requirement(), MOTO_REQUIREMENT).expect("target/moto/venv/requirement");
}

fn succeed(command: &mut StdCommand) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---- tests -------------------------------------------------------------------

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
    let video = probe(object, "VIDEO", url).await.unwrap();
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
    let probed = probe(&object(url), "VIDEO", url).await.unwrap();
    assert_eq!(
        (probed.width, probed.height, probed.frame_count),
        (Some(160), Some(120), Some(50))
    );
    assert_eq!(probed.variable_frame_rate, Some(true));
    let url = "s3://farm/clips/image.png";
    let probed = probe(&object(url), "IMAGE", url).await.unwrap();
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
