//! A real S3-compatible server for the tests of S3 integrations:
//! `moto_server`, one per test on a loopback port, killed when the test's
//! [`Moto`] is dropped.
//!
//! One process per test, not one shared server, so that a test may turn on
//! signature checks ([`Moto::require_signatures`]) or fill buckets without
//! another test seeing it. moto accepts any credentials until then; after
//! it, only the key it made.
//!
//! The harness finds `moto_server` at `ANNOGRAPH_MOTO_SERVER`, then in
//! `target/moto/venv`, then on `PATH`; failing all three it installs
//! [`MOTO_REQUIREMENT`] into `target/moto/venv`, one test process at a time
//! under a file lock. `.ci/run` installs the same pin there before the
//! tests, so that no test spends its time installing it: the two must name
//! the same release.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::{json, Value};

/// What the harness installs when no `moto_server` is found; `.ci/run`
/// installs the same (`moto_requirement` there).
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.1";

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
