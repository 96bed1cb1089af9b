//! Import throughput: one `importFromCloud` job of many small images read
//! over HTTP, end to end through the real server.
//!
//! Starts, in this process, a loopback object server answering every path
//! under `/objects/` with one small PNG (HEAD and `Range` supported), and
//! annograph itself (`annograph::app::spawn`) on a temporary SQLite file, or
//! on a fresh PostgreSQL database when `BENCH_DATABASE_URL` is set (dropped
//! at the end). Submits a CSV manifest, polls the job until it ends, prints
//! the figures and panics unless every entry was registered.
//!
//! ```text
//! cargo bench --bench import
//! BENCH_ENTRIES=10000 BENCH_CONCURRENCY=64 cargo bench --bench import
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench import
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BENCH_ENTRIES` | 100000 | entries in the manifest |
//! | `BENCH_CONCURRENCY` | the server's default | objects of the job read at once |
//! | `BENCH_DATABASE_URL` | — | a PostgreSQL server to create the database on |
//! | `BENCH_MANIFEST` | `inline` | `inline` (the `manifest` text) or `upload` (a multipart file) |
//! | `BENCH_IGNORE_FILE_ERRORS` | false | run the job registering as it goes rather than all-or-nothing |
//! | `BENCH_OBJECT_LATENCY_MS` | 0 | how long the object server waits before each answer |
//! | `BENCH_SQLITE_WAL` | false | create the SQLite file in WAL mode (which persists in the file) |
//!
//! Peak RSS and SQL statements are of the whole process: server, workers,
//! object server and client alike.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annograph::app::{spawn, RunningServer};
use annograph::config::Config;
use anyhow::{bail, ensure, Context as _};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

/// The object every path under `/objects/` is.
const IMAGE: &[u8] = include_bytes!("../tests/fixtures/media/image.png");
const SECRET: &str = "bench-secret-for-annograph-imports";
const POLL_EVERY: Duration = Duration::from_millis(200);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Longest the job may take before the benchmark gives up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 3600);

const IMPORT: &str = "mutation($input: ImportFromCloudInput!) {
    importFromCloud(input: $input) { id status total } }";
const JOB: &str = "query($id: ID!) { importJob(id: $id) {
    status total processed succeeded failed skipped message startedAt finishedAt
    errors(first: 3) { totalCount nodes { entry code message } } } }";

/// What the benchmark is asked to do.
#[derive(Debug)]
struct Settings {
    entries: usize,
    concurrency: Option<usize>,
    postgres: Option<String>,
    upload: bool,
    ignore_file_errors: bool,
    sqlite_wal: bool,
    object_latency: Duration,
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let manifest = var("BENCH_MANIFEST").unwrap_or_else(|| "inline".into());
        let upload = match manifest.as_str() {
            "inline" => false,
            "upload" => true,
            other => bail!("BENCH_MANIFEST is {other:?}: expected inline or upload"),
        };
        Ok(Settings {
            entries: parsed("BENCH_ENTRIES")?.unwrap_or(100_000),
            concurrency: parsed("BENCH_CONCURRENCY")?,
            postgres: var("BENCH_DATABASE_URL"),
            upload,
            ignore_file_errors: flag("BENCH_IGNORE_FILE_ERRORS")?,
            sqlite_wal: flag("BENCH_SQLITE_WAL")?,
            object_latency: Duration::from_millis(parsed("BENCH_OBJECT_LATENCY_MS")?.unwrap_or(0)),
        })
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parsed<T: FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    var(name)
        .map(|v| v.parse().with_context(|| format!("{name}={v:?}")))
        .transpose()
}

/// A yes/no variable: `1`/`true`/`yes` or `0`/`false`/`no`; unset is no.
fn flag(name: &str) -> anyhow::Result<bool> {
    match var(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("0" | "false" | "no") => Ok(false),
        Some("1" | "true" | "yes") => Ok(true),
        Some(other) => bail!("{name}={other:?}: expected 1 or 0"),
    }
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let settings = Settings::from_env()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(settings))
}

async fn bench(settings: Settings) -> anyhow::Result<()> {
    let database = BenchDatabase::create(&settings).await?;
    let outcome = run(&settings, &database).await;
    database.drop().await?;
    let report = outcome?;
    report.print(&settings, &database);
    report.check(settings.entries);
    Ok(())
}

/// The database of one run: a temporary SQLite file, or a new PostgreSQL
/// database.
struct BenchDatabase {
    url: String,
    /// The server's URL and the database's name, to drop it at the end.
    postgres: Option<(String, String)>,
    wal: bool,
    _dir: Option<tempfile::TempDir>,
}

impl BenchDatabase {
    async fn create(settings: &Settings) -> anyhow::Result<BenchDatabase> {
        let Some(server) = settings.postgres.as_deref() else {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            );
            if settings.sqlite_wal {
                // The server sets no journal mode, so it keeps the file's.
                let db = Database::connect(&url).await?;
                db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
                db.close().await?;
            }
            return Ok(BenchDatabase {
                url,
                postgres: None,
                wal: settings.sqlite_wal,
                _dir: Some(dir),
            });
        };
        let name = format!("annograph_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(server)
            .await
            .context("BENCH_DATABASE_URL must be reachable")?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        Ok(BenchDatabase {
            url: annograph::app::database_url_named(server, &name),
            postgres: Some((server.to_owned(), name)),
            wal: false,
            _dir: None,
        })
    }

    fn describe(&self) -> String {
        match &self.postgres {
            Some((_, name)) => format!("PostgreSQL (database {name}, dropped)"),
            None if self.wal => "SQLite (temporary file, created in WAL mode)".to_owned(),
            None => "SQLite (temporary file)".to_owned(),
        }
    }

    /// Drops a PostgreSQL database, closing the server's connections to it.
    async fn drop(&self) -> anyhow::Result<()> {
        let Some((server, name)) = &self.postgres else {
            return Ok(());
        };
        let admin = Database::connect(server.as_str()).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        admin.close().await?;
        Ok(())
    }
}

/// The object server's state: its latency and the requests it answered.
#[derive(Default)]
struct ObjectRequests {
    latency: Duration,
    head: AtomicU64,
    get: AtomicU64,
}

/// Serves [`IMAGE`] under `/objects/`; returns the base URL.
async fn object_server(requests: Arc<ObjectRequests>) -> anyhow::Result<String> {
    let app = axum::Router::new()
        .route(
            "/objects/{*name}",
            axum::routing::get(serve_object).head(serve_object),
        )
        .with_state(requests);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("object server stopped: {e}");
        }
    });
    Ok(format!("http://{addr}/objects/"))
}

async fn serve_object(
    State(requests): State<Arc<ObjectRequests>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let len = IMAGE.len() as u64;
    let head = method == Method::HEAD;
    let counter = if head { &requests.head } else { &requests.get };
    counter.fetch_add(1, Ordering::Relaxed);
    if !requests.latency.is_zero() {
        tokio::time::sleep(requests.latency).await;
    }
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(|v| byte_range(v, len)) {
            Some(range) => Some(range),
            None => {
                return respond(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                    .body(Body::empty())
                    .unwrap_or_default()
            }
        },
    };
    let (status, bytes) = match range {
        Some((start, end)) => (
            StatusCode::PARTIAL_CONTENT,
            &IMAGE[start as usize..=end as usize],
        ),
        None => (StatusCode::OK, IMAGE),
    };
    let mut response = respond(status)
        .header(header::CONTENT_TYPE, "image/png")
        .header(header::CONTENT_LENGTH, bytes.len())
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some((start, end)) = range {
        response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
    }
    let body = if head {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    response.body(body).unwrap_or_default()
}

fn respond(status: StatusCode) -> axum::http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::ETAG, "\"bench-image\"")
        .header(header::LAST_MODIFIED, "Sun, 29 Nov 2026 00:00:00 GMT")
}

/// The inclusive byte range of a `Range: bytes=a-b` (or `a-`, or `-n`)
/// header within `len` bytes; `None` when it is not satisfiable.
fn byte_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (len.checked_sub(n.min(len))?, len.checked_sub(1)?)
        }
        (start, "") => (start.parse().ok()?, len.checked_sub(1)?),
        (start, end) => (start.parse().ok()?, end.parse::<u64>().ok()?.min(len - 1)),
    };
    (start <= end && end < len).then_some((start, end))
}

/// A CSV manifest of `entries` images under `base`.
fn manifest(base: &str, entries: usize) -> String {
    let mut csv = String::with_capacity(entries * (base.len() + 18) + 16);
    csv.push_str("objectUrl,kind\n");
    for i in 0..entries {
        csv.push_str(&format!("{base}{i:06}.png,IMAGE\n"));
    }
    csv
}

/// A user's GraphQL client for the server.
struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    async fn new(server: &RunningServer) -> anyhow::Result<Client> {
        let token =
            server
                .state
                .auth
                .mint("bench@example.com", None, Duration::from_secs(24 * 3600))?;
        let client = Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()?,
            url: format!("http://{}/graphql", server.addr),
            token,
        };
        // The first request provisions the user.
        client.ok("{ me { id } }", json!({})).await?;
        Ok(client)
    }

    /// Runs an operation that must succeed; returns `data`.
    async fn ok(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status();
        let text = response.text().await?;
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("HTTP {status}: {}", truncated(&text)))?;
        ensure!(
            body.get("errors").is_none() && status.is_success(),
            "HTTP {status}: {}",
            truncated(&body.to_string())
        );
        Ok(body["data"].clone())
    }

    async fn id(&self, query: &str, variables: Value, field: &str) -> anyhow::Result<String> {
        let data = self.ok(query, variables).await?;
        data[field]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {field} id in {data}"))
    }

    /// Submits the import: the manifest as text, or as a multipart upload.
    async fn submit(
        &self,
        mut input: Value,
        manifest: String,
        upload: bool,
    ) -> anyhow::Result<Value> {
        if !upload {
            input["manifest"] = manifest.into();
            return Ok(
                self.ok(IMPORT, json!({ "input": input })).await?["importFromCloud"].clone(),
            );
        }
        input["file"] = Value::Null;
        let operations = json!({ "query": IMPORT, "variables": { "input": input } });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": ["variables.input.file"] }).to_string())
            .part(
                "0",
                reqwest::multipart::Part::text(manifest)
                    .file_name("manifest.csv")
                    .mime_str("text/csv")?,
            );
        let request = self.http.post(&self.url).multipart(form);
        Ok(self.send(request).await?["importFromCloud"].clone())
    }
}

fn truncated(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(2000)
        .map_or(text.len(), |(at, _)| at);
    &text[..end]
}

/// Peak and current resident set size (kB), from `/proc/self/status`.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    peak_kb: u64,
    current_kb: u64,
}

/// CPU time (user, system) the process has used, from `/proc/self/stat`
/// (in clock ticks of 1/100 s, Linux's `USER_HZ`).
fn cpu_time() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and
    // stime are the 14th and 15th of the line.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let ticks = |at: usize| Duration::from_millis(fields.get(at).copied().unwrap_or(0) * 10);
    (ticks(11), ticks(12))
}

fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        peak_kb: field("VmHWM:"),
        current_kb: field("VmRSS:"),
    }
}

/// How following the job went.
#[derive(Default)]
struct Polls {
    sent: u64,
    /// Polls answered with an error (the job went on).
    failed: u64,
    first_failure: Option<String>,
    /// When a poll first saw every entry processed (read, for an
    /// all-or-nothing job, which registers them all after that).
    all_read: Option<Duration>,
}

/// What one run measured.
struct Report {
    concurrency: usize,
    db_max_connections: u32,
    manifest_bytes: usize,
    submission: Duration,
    import_polled: Duration,
    /// `startedAt` → `finishedAt` of the job, as the server recorded them.
    import_server: Option<Duration>,
    job: Value,
    registered: u64,
    memory_before: Memory,
    memory_after: Memory,
    statements_submission: u64,
    statements_import: u64,
    polls: Polls,
    /// CPU time (user, system) of the process during submission and import.
    cpu: (Duration, Duration),
    requests: Arc<ObjectRequests>,
}

async fn run(settings: &Settings, database: &BenchDatabase) -> anyhow::Result<Report> {
    let requests = Arc::new(ObjectRequests {
        latency: settings.object_latency,
        ..ObjectRequests::default()
    });
    let base = object_server(requests.clone()).await?;

    let mut config = Config::for_database(&database.url, SECRET);
    // As `annograph serve` by default.
    config.db_max_connections = 10;
    // The objects are served on loopback.
    config.storage_allowed_hosts = annograph::storage::allow_list::AllowList::loopback();
    // The manifest goes inline: a line is about 50 bytes.
    config.max_body_bytes = config.max_body_bytes.max(settings.entries * 64 + 4096);
    config.import.max_entries = config.import.max_entries.max(settings.entries);
    if let Some(concurrency) = settings.concurrency {
        config.import.concurrency = concurrency;
    }
    let server = spawn(&config).await?;
    let client = Client::new(&server).await?;

    let integration = client
        .id(
            "mutation($c: JSON!) { createIntegration(input: {title: \"Bench objects\", provider: HTTP, config: $c}) { id } }",
            json!({ "c": { "baseUrl": base, "allowHttp": true } }),
            "createIntegration",
        )
        .await?;
    let folder = client
        .id(
            "mutation { createFolder(input: {name: \"Bench\"}) { id } }",
            json!({}),
            "createFolder",
        )
        .await?;
    let dataset = client
        .id(
            "mutation($f: ID) { createDataset(input: {title: \"Bench\", folderId: $f}) { id } }",
            json!({ "f": folder }),
            "createDataset",
        )
        .await?;

    let manifest = manifest(&base, settings.entries);
    let manifest_bytes = manifest.len();
    let input = json!({
        "datasetId": dataset,
        "integrationId": integration,
        "format": "CSV",
        "ignoreFileErrors": settings.ignore_file_errors,
    });
    let metrics = server.state.services.metrics.clone();
    let memory_before = memory();
    let cpu_start = cpu_time();
    let statements_start = metrics.sql_statements();
    let started = Instant::now();
    let submitted = client.submit(input, manifest, settings.upload).await?;
    let submission = started.elapsed();
    let statements_submitted = metrics.sql_statements();
    let job_id = submitted["id"]
        .as_str()
        .with_context(|| format!("no job id in {submitted}"))?
        .to_owned();
    eprintln!(
        "submitted {} entries in {:.2} s; importing…",
        submitted["total"],
        submission.as_secs_f64()
    );

    let importing = Instant::now();
    let mut polls = Polls::default();
    let mut last_progress = Instant::now();
    let job = loop {
        tokio::time::sleep(POLL_EVERY).await;
        ensure!(
            importing.elapsed() < GIVE_UP_AFTER,
            "the job did not end within {GIVE_UP_AFTER:?}"
        );
        polls.sent += 1;
        // A failed poll is a finding, not the end of the run.
        let job = match client.ok(JOB, json!({ "id": job_id })).await {
            Ok(data) => data["importJob"].clone(),
            Err(e) => {
                eprintln!(
                    "  poll failed after {:.1} s: {e}",
                    importing.elapsed().as_secs_f64()
                );
                polls.failed += 1;
                polls.first_failure.get_or_insert_with(|| e.to_string());
                continue;
            }
        };
        let status = job["status"].as_str().unwrap_or_default();
        let processed = job["processed"].as_i64().unwrap_or(0);
        if polls.all_read.is_none() && processed >= settings.entries as i64 {
            polls.all_read = Some(importing.elapsed());
        }
        if matches!(status, "SUCCEEDED" | "FAILED" | "CANCELLED") {
            break job;
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            let elapsed = importing.elapsed().as_secs_f64();
            eprintln!(
                "  {status} {processed}/{} after {elapsed:.0} s ({:.0} entries/s)",
                job["total"],
                processed as f64 / elapsed
            );
        }
    };
    let import_polled = importing.elapsed();
    let statements_end = metrics.sql_statements();
    let memory_after = memory();
    let cpu_end = cpu_time();
    let registered = client
        .ok(
            "query($id: ID!) { dataset(id: $id) { files(first: 1) { totalCount } } }",
            json!({ "id": dataset }),
        )
        .await?["dataset"]["files"]["totalCount"]
        .as_u64()
        .unwrap_or(0);
    let timestamp = |field: &str| {
        job[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let import_server = match (timestamp("startedAt"), timestamp("finishedAt")) {
        (Some(start), Some(end)) => (end - start).to_std().ok(),
        _ => None,
    };
    Ok(Report {
        concurrency: config.import.concurrency,
        db_max_connections: config.db_max_connections,
        manifest_bytes,
        submission,
        import_polled,
        import_server,
        job,
        registered,
        memory_before,
        memory_after,
        statements_submission: statements_submitted - statements_start,
        statements_import: statements_end - statements_submitted,
        polls,
        cpu: (cpu_end.0 - cpu_start.0, cpu_end.1 - cpu_start.1),
        requests,
    })
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

impl Report {
    fn print(&self, settings: &Settings, database: &BenchDatabase) {
        let entries = settings.entries.max(1) as f64;
        let import = self.import_server.unwrap_or(self.import_polled);
        let count = |field: &str| self.job[field].as_i64().unwrap_or(-1);
        let heads = self.requests.head.load(Ordering::Relaxed);
        let gets = self.requests.get.load(Ordering::Relaxed);
        println!();
        println!("== annograph import benchmark ==");
        println!("database              {}", database.describe());
        println!(
            "entries               {} (manifest {:.1} MiB, {})",
            settings.entries,
            self.manifest_bytes as f64 / (1024.0 * 1024.0),
            if settings.upload {
                "multipart upload"
            } else {
                "inline text"
            }
        );
        println!(
            "job                   {}, concurrency {}, {} database connections",
            if settings.ignore_file_errors {
                "ignoreFileErrors"
            } else {
                "all-or-nothing"
            },
            self.concurrency,
            self.db_max_connections
        );
        println!(
            "submission            {:.2} s (the mutation, staging the manifest)",
            self.submission.as_secs_f64()
        );
        println!(
            "import                {:.2} s (server startedAt → finishedAt; {:.2} s polled every {} ms)",
            import.as_secs_f64(),
            self.import_polled.as_secs_f64(),
            POLL_EVERY.as_millis()
        );
        println!(
            "throughput            {:.0} entries/s (import), {:.0} entries/s (submission + import)",
            entries / import.as_secs_f64(),
            entries / (self.submission + import).as_secs_f64()
        );
        println!(
            "status                {}{}",
            self.job["status"].as_str().unwrap_or("?"),
            self.job["message"]
                .as_str()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
        println!(
            "counts                total {}, processed {}, succeeded {}, failed {}, skipped {}; {} files in the dataset",
            count("total"),
            count("processed"),
            count("succeeded"),
            count("failed"),
            count("skipped"),
            self.registered
        );
        println!(
            "object requests       {heads} HEAD + {gets} GET ({:.2} per entry), each answered after {} ms",
            (heads + gets) as f64 / entries,
            self.requests.latency.as_millis()
        );
        println!(
            "peak RSS (VmHWM)      {:.1} MiB before submission, {:.1} MiB after the job (RSS now {:.1} MiB)",
            mib(self.memory_before.peak_kb),
            mib(self.memory_after.peak_kb),
            mib(self.memory_after.current_kb)
        );
        println!(
            "SQL statements        {:.3} per entry: {} submitting ({:.3}/entry), {} importing ({:.3}/entry, incl. {} polls)",
            (self.statements_submission + self.statements_import) as f64 / entries,
            self.statements_submission,
            self.statements_submission as f64 / entries,
            self.statements_import,
            self.statements_import as f64 / entries,
            self.polls.sent
        );
        let wall = self.submission + self.import_polled;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "CPU time              {:.2} s user + {:.2} s system over {:.2} s: {:.0}% of {cores} cores",
            self.cpu.0.as_secs_f64(),
            self.cpu.1.as_secs_f64(),
            wall.as_secs_f64(),
            100.0 * (self.cpu.0 + self.cpu.1).as_secs_f64() / (wall.as_secs_f64() * cores as f64)
        );
        if let Some(read) = self.polls.all_read {
            println!(
                "phases (polled)       every entry processed after {:.2} s, the job ended {:.2} s later",
                read.as_secs_f64(),
                self.import_polled.saturating_sub(read).as_secs_f64()
            );
        }
        if self.polls.failed > 0 {
            println!(
                "WARNING               {} of {} polls of importJob failed; first: {}",
                self.polls.failed,
                self.polls.sent,
                self.polls.first_failure.as_deref().unwrap_or_default()
            );
        }
        if let Some(errors) = self.job["errors"]["nodes"]
            .as_array()
            .filter(|e| !e.is_empty())
        {
            println!(
                "first errors          {}",
                serde_json::to_string(errors).unwrap_or_default()
            );
        }
        println!();
    }

    /// Panics unless the job registered every entry.
    fn check(&self, entries: usize) {
        let entries = entries as i64;
        let job = &self.job;
        assert_eq!(
            job["status"], "SUCCEEDED",
            "the import did not succeed: {job:#}"
        );
        for (field, expected) in [
            ("total", entries),
            ("processed", entries),
            ("succeeded", entries),
            ("failed", 0),
            ("skipped", 0),
        ] {
            assert_eq!(job[field].as_i64(), Some(expected), "{field}: {job:#}");
        }
        assert_eq!(
            self.registered, entries as u64,
            "files registered in the dataset"
        );
    }
}
