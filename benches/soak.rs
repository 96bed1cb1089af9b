//! Soak: many people working at once for minutes, against the real server.
//!
//! Starts `annograph serve` as a child process on a loopback port, on a
//! temporary SQLite file and then on a fresh PostgreSQL database, and keeps
//! 64 connections busy for the whole duration: 48 HTTP keep-alive
//! connections sending a mix of queries and mutations, and 16 WebSockets
//! (`graphql-transport-ws`) each holding two `datasetChanged` subscriptions
//! and sending queries and mutations of their own. Sixteen users share the
//! connections; each works on datasets and folders of their own, so no
//! error is expected at all.
//!
//! ```text
//! cargo bench --bench soak                      # 5 minutes on each backend
//! cargo bench --bench soak -- --duration 30s    # or SOAK_DURATION=30s
//! SOAK_BACKENDS=postgres cargo bench --bench soak
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SOAK_DURATION` (`--duration`) | `5m` | how long the clients work on each backend |
//! | `SOAK_BACKENDS` | `sqlite,postgres` | which backends, in order |
//! | `BENCH_DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/test` | the PostgreSQL server to create the database on (skipped with a note when unreachable) |
//!
//! Figures per backend: operations, errors by `extensions.code` (and HTTP
//! status or transport failure), latency p50/p99/max, subscription events
//! received, the server's RSS when the clients start and after they left,
//! and, after they left: its open sockets (clients, database, listening),
//! threads, runtime tasks and subscriptions. The last line is one JSON
//! object with every figure. The run fails when an operation answered
//! INTERNAL, or BUSY on PostgreSQL.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annograph::auth::Authenticator;
use anyhow::{bail, Context as _};
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[allow(dead_code)] // each benchmark uses part of it
mod support;
use support::{sockets, status_field, Backend, Launch, Server};

const DEFAULT_DURATION: Duration = Duration::from_secs(300);
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const USERS: usize = 16;
const HTTP_CONNECTIONS: usize = 48;
const WS_CONNECTIONS: usize = 16;
/// Files each user starts with in their first folder.
const FILES_PER_USER: usize = 20;
/// How long the server is given to settle once the clients left.
const SETTLE: Duration = Duration::from_secs(5);
/// Longest one operation may take before it counts as a transport failure.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

const ME: &str = "query Me { me { id email } }";
const DATASETS: &str = "query Datasets { datasets(first: 20) { totalCount nodes { id title
    files(first: 5) { totalCount nodes { id title } } } } }";
const DATASET: &str = "query Dataset($id: ID!) { dataset(id: $id) { title description
    files(first: 10) { totalCount nodes { id title folder { name } } } } }";
const FOLDERS: &str = "query Folders { folders(first: 20) { totalCount nodes { id name } } }";
const UPDATE_DATASET: &str = "mutation UpdateDataset($id: ID!, $t: String!) {
    updateDataset(input: {id: $id, title: $t}) { id title } }";
const CREATE_FOLDER: &str = "mutation CreateFolder($n: String!) {
    createFolder(input: {name: $n}) { id name } }";
const REGISTER: &str = "mutation RegisterFiles($f: ID!, $files: [FileInput!]!) {
    registerFiles(input: {folderId: $f, files: $files}) { id } }";
const MOVE: &str = "mutation MoveFiles($f: [ID!]!, $to: ID!) {
    moveFiles(input: {fileIds: $f, toDatasetId: $to}) { id } }";
const ATTACH: &str = "mutation Attach($d: ID!, $f: [ID!]!) {
    attachFilesToDataset(input: {datasetId: $d, fileIds: $f}) { id } }";
const DETACH: &str = "mutation Detach($d: ID!, $f: [ID!]!) {
    detachFilesFromDataset(input: {datasetId: $d, fileIds: $f}) { id } }";
const CHANGED: &str = "subscription Changed($id: ID!) { datasetChanged(datasetId: $id) {
    change datasetId at } }";

#[derive(Debug)]
struct Settings {
    duration: Duration,
    backends: Vec<Backend>,
    postgres: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Settings {
    fn parse() -> anyhow::Result<Settings> {
        let mut duration = var("SOAK_DURATION");
        // `cargo bench` adds `--bench`; anything else unknown is a mistake.
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--duration" {
                duration = Some(args.next().context("--duration needs a value, e.g. 5m")?);
            } else if let Some(value) = arg.strip_prefix("--duration=") {
                duration = Some(value.to_owned());
            } else if arg != "--bench" {
                bail!("unknown argument {arg:?} (expected --duration 5m)");
            }
        }
        let duration = match duration {
            Some(d) => humantime::parse_duration(&d).with_context(|| format!("duration {d:?}"))?,
            None => DEFAULT_DURATION,
        };
        let backends = var("SOAK_BACKENDS")
            .unwrap_or_else(|| "sqlite,postgres".into())
            .split(',')
            .map(|b| match b.trim() {
                "sqlite" => Ok(Backend::Sqlite),
                "postgres" => Ok(Backend::Postgres),
                other => bail!("SOAK_BACKENDS: unknown backend {other:?}"),
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Settings {
            duration,
            backends,
            postgres: var("BENCH_DATABASE_URL").unwrap_or_else(|| DEFAULT_POSTGRES.into()),
        })
    }
}

fn main() -> anyhow::Result<()> {
    let settings = Settings::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut figures = serde_json::Map::new();
    figures.insert("duration_s".into(), json!(settings.duration.as_secs_f64()));
    figures.insert(
        "connections".into(),
        json!({ "http": HTTP_CONNECTIONS, "websocket": WS_CONNECTIONS, "users": USERS }),
    );
    let mut failures = Vec::new();
    for backend in &settings.backends {
        println!(
            "soak on {} for {:?} with {} connections",
            backend.name(),
            settings.duration,
            HTTP_CONNECTIONS + WS_CONNECTIONS
        );
        let result = runtime.block_on(soak(&settings, *backend));
        let value = match result {
            Ok(Some(report)) => {
                report.print();
                failures.extend(report.failures(*backend));
                report.to_json()
            }
            Ok(None) => {
                json!({ "skipped": format!("no PostgreSQL server at {}", settings.postgres) })
            }
            Err(e) => {
                failures.push(format!("{}: {e:#}", backend.name()));
                json!({ "failed": format!("{e:#}") })
            }
        };
        figures.insert(backend.name().into(), value);
    }
    println!("{}", Value::Object(figures));
    if !failures.is_empty() {
        bail!("soak failed: {}", failures.join("; "));
    }
    Ok(())
}

/// The database of one run: a temporary SQLite file, or a new PostgreSQL
/// database (dropped at the end).
struct SoakDatabase {
    url: String,
    /// The PostgreSQL server and the database's name.
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl SoakDatabase {
    async fn create(settings: &Settings, backend: Backend) -> anyhow::Result<Option<Self>> {
        let dir = tempfile::tempdir()?;
        match backend {
            Backend::Sqlite => Ok(Some(SoakDatabase {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("soak.db").display()),
                postgres: None,
                _dir: dir,
            })),
            Backend::Postgres => {
                let server = &settings.postgres;
                let admin = match tokio::time::timeout(
                    Duration::from_secs(10),
                    Database::connect(server.as_str()),
                )
                .await
                {
                    Ok(Ok(admin)) => admin,
                    Ok(Err(e)) => {
                        println!("note: skipping PostgreSQL, {server} is unreachable: {e}");
                        return Ok(None);
                    }
                    Err(_) => {
                        println!("note: skipping PostgreSQL, {server} does not answer");
                        return Ok(None);
                    }
                };
                let name = format!("annograph_soak_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                admin.close().await?;
                Ok(Some(SoakDatabase {
                    url: annograph::app::database_url_named(server, &name),
                    postgres: Some((server.clone(), name)),
                    _dir: dir,
                }))
            }
        }
    }

    async fn drop(self) -> anyhow::Result<()> {
        if let Some((server, name)) = &self.postgres {
            let admin = Database::connect(server.as_str()).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
            admin.close().await?;
        }
        Ok(())
    }
}

/// What the server holds, read from /proc and /metrics.
#[derive(Debug, Clone, Default)]
struct Usage {
    rss_kib: u64,
    threads: u64,
    /// Sockets by what they are: "clients" (accepted on the server's
    /// port), "database", "listening", "other".
    sockets: BTreeMap<&'static str, u64>,
    alive_tasks: Option<u64>,
    active_subscriptions: Option<u64>,
    server_errors: BTreeMap<String, u64>,
}

/// A metric's value from the Prometheus text (the first line with that name
/// and labels prefix).
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

async fn usage(server: &Server, db_port: Option<u16>) -> anyhow::Result<Usage> {
    let pid = server.pid();
    // Sockets first: the request for /metrics below opens one.
    let sockets = sockets(pid, server.port, db_port)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let text = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await?
        .text()
        .await?;
    let mut server_errors = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("annograph_graphql_errors_total{code=\"") {
            if let Some((code, n)) = rest.split_once("\"} ") {
                server_errors.insert(
                    code.to_owned(),
                    n.trim().parse::<f64>().unwrap_or(0.0) as u64,
                );
            }
        }
    }
    Ok(Usage {
        rss_kib: status_field(pid, "VmRSS:")?,
        threads: status_field(pid, "Threads:")?,
        sockets,
        alive_tasks: metric(&text, "annograph_runtime_alive_tasks"),
        active_subscriptions: metric(&text, "annograph_active_subscriptions"),
        server_errors,
    })
}

/// One user's things.
#[derive(Debug, Clone)]
struct Person {
    index: usize,
    token: String,
    folders: [String; 2],
    /// Mirrored datasets of the two folders.
    mirrored: [String; 2],
    /// A dataset files are attached to and detached from.
    plain: String,
    files: Vec<String>,
}

/// Sends one GraphQL request; the `data`, or the error's code.
async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "CLIENT_TIMEOUT".to_owned()
            } else {
                "TRANSPORT".to_owned()
            }
        })?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|_| format!("HTTP_{}", status.as_u16()))?;
    answer(&body).map_err(|code| {
        if status.is_success() || code != "NO_CODE" {
            code
        } else {
            format!("HTTP_{}", status.as_u16())
        }
    })
}

/// The `data` of a GraphQL answer, or the first error's code.
fn answer(body: &Value) -> Result<Value, String> {
    match body.get("errors") {
        Some(errors) => Err(errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or("NO_CODE")
            .to_owned()),
        None => Ok(body["data"].clone()),
    }
}

async fn set_up(url: &str, auth: &Authenticator) -> anyhow::Result<Vec<Person>> {
    let client = reqwest::Client::new();
    let mut people = Vec::new();
    for index in 0..USERS {
        let token = auth.mint(
            &format!("soak{index}@example.com"),
            Some(&format!("Soak {index}")),
            Duration::from_secs(24 * 3600),
        )?;
        let call = |query: &'static str, variables: Value| {
            let (client, token) = (&client, &token);
            async move {
                graphql(client, url, token, query, variables)
                    .await
                    .map_err(|code| anyhow::anyhow!("setting up: {code}"))
            }
        };
        let mut folders = Vec::new();
        let mut mirrored = Vec::new();
        for side in ["A", "B"] {
            let name = format!("Soak {index} {side}");
            let folder = call(CREATE_FOLDER, json!({ "n": name })).await?["createFolder"]["id"]
                .as_str()
                .context("folder id")?
                .to_owned();
            let dataset = call(
                "mutation($t: String!, $f: ID) { createDataset(input: {title: $t, folderId: $f}) { id } }",
                json!({ "t": name, "f": folder }),
            )
            .await?["createDataset"]["id"]
                .as_str()
                .context("dataset id")?
                .to_owned();
            folders.push(folder);
            mirrored.push(dataset);
        }
        let plain = call(
            "mutation($t: String!) { createDataset(input: {title: $t}) { id } }",
            json!({ "t": format!("Soak {index} picks") }),
        )
        .await?["createDataset"]["id"]
            .as_str()
            .context("dataset id")?
            .to_owned();
        let files: Vec<Value> = (0..FILES_PER_USER)
            .map(|i| json!({ "objectUrl": format!("s3://soak/{index}/start-{i}.jpg"), "kind": "IMAGE" }))
            .collect();
        let registered = call(REGISTER, json!({ "f": folders[0], "files": files })).await?;
        let files = registered["registerFiles"]
            .as_array()
            .context("registered files")?
            .iter()
            .filter_map(|f| f["id"].as_str().map(str::to_owned))
            .collect();
        people.push(Person {
            index,
            token,
            folders: [folders[0].clone(), folders[1].clone()],
            mirrored: [mirrored[0].clone(), mirrored[1].clone()],
            plain,
            files,
        });
    }
    Ok(people)
}

/// A small random number generator (xorshift), one per connection.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Dice {
        Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The next operation of a connection: its text and variables. Half
/// queries, half mutations.
fn pick(person: &Person, dice: &mut Dice, connection: usize, n: u64) -> (&'static str, Value) {
    let file = || person.files[(n as usize + connection) % person.files.len()].clone();
    match dice.below(20) {
        0..=2 => (ME, json!({})),
        3..=5 => (DATASETS, json!({})),
        6..=8 => (DATASET, json!({ "id": person.mirrored[dice.below(2)] })),
        9 => (FOLDERS, json!({})),
        10..=11 => (
            UPDATE_DATASET,
            json!({ "id": person.mirrored[dice.below(2)], "t": format!("Soak {} {connection}-{n}", person.index) }),
        ),
        12 => (
            CREATE_FOLDER,
            json!({ "n": format!("Soak {} c{connection} n{n}", person.index) }),
        ),
        13..=14 => (
            REGISTER,
            json!({ "f": person.folders[dice.below(2)], "files": [{
                "objectUrl": format!("s3://soak/{}/c{connection}-{n}.jpg", person.index),
                "kind": "IMAGE",
            }] }),
        ),
        15..=16 => (
            MOVE,
            json!({ "f": [file()], "to": person.mirrored[dice.below(2)] }),
        ),
        17..=18 => (ATTACH, json!({ "d": person.plain, "f": [file()] })),
        _ => (DETACH, json!({ "d": person.plain, "f": [file()] })),
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    operations: u64,
    by_code: BTreeMap<String, u64>,
    /// Microseconds, one per operation.
    latencies: Vec<u32>,
    events: u64,
}

impl Tally {
    fn record(&mut self, started: Instant, outcome: Result<(), String>) {
        self.operations += 1;
        self.latencies
            .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if let Err(code) = outcome {
            *self.by_code.entry(code).or_insert(0) += 1;
        }
    }

    fn merge(&mut self, other: Tally) {
        self.operations += other.operations;
        for (code, n) in other.by_code {
            *self.by_code.entry(code).or_insert(0) += n;
        }
        self.latencies.extend(other.latencies);
        self.events += other.events;
    }
}

async fn http_connection(
    url: String,
    person: Person,
    connection: usize,
    stop: Arc<AtomicBool>,
) -> Tally {
    // One keep-alive connection: requests one after the other.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("HTTP client");
    let mut dice = Dice::new(connection as u64 + 1);
    let mut tally = Tally::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (query, variables) = pick(&person, &mut dice, connection, n);
        let started = Instant::now();
        let outcome = graphql(&client, &url, &person.token, query, variables)
            .await
            .map(drop);
        tally.record(started, outcome);
    }
    tally
}

async fn ws_connection(
    url: String,
    person: Person,
    connection: usize,
    stop: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
) -> anyhow::Result<Tally> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let send = |message: Value| Message::Text(message.to_string().into());
    socket
        .send(send(json!({ "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {}", person.token) } })))
        .await?;
    let mut tally = Tally::default();
    // Waits for the operation `id` to complete, counting events meanwhile;
    // the operation's first error code, if any.
    async fn until_complete(
        socket: &mut tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        id: Option<&str>,
        tally: &mut Tally,
        events: &AtomicU64,
    ) -> anyhow::Result<Result<(), String>> {
        let mut outcome = Ok(());
        loop {
            let message = tokio::time::timeout(CLIENT_TIMEOUT, socket.next())
                .await
                .map_err(|_| anyhow::anyhow!("no answer within {CLIENT_TIMEOUT:?}"))?;
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => bail!("the socket ended: {other:?}"),
            };
            let message: Value = serde_json::from_str(&text)?;
            let of = message["id"].as_str();
            match message["type"].as_str() {
                Some("connection_ack") if id.is_none() => return Ok(Ok(())),
                Some("ping") => {
                    socket
                        .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                        .await?;
                }
                Some("next") if of.is_some_and(|o| o.starts_with("sub-")) => {
                    tally.events += 1;
                    events.fetch_add(1, Ordering::Relaxed);
                    if let Err(code) = answer(&message["payload"]) {
                        *tally.by_code.entry(format!("EVENT_{code}")).or_insert(0) += 1;
                    }
                }
                Some("next") if of == id => {
                    if let Err(code) = answer(&message["payload"]) {
                        outcome = Err(code);
                    }
                }
                Some("error") if of == id => {
                    let code = message["payload"][0]["extensions"]["code"]
                        .as_str()
                        .unwrap_or("NO_CODE")
                        .to_owned();
                    return Ok(Err(code));
                }
                Some("complete") if of == id => return Ok(outcome),
                Some("complete" | "error") if of.is_some_and(|o| o.starts_with("sub-")) => {
                    // A subscription ended early: count it, as an error.
                    *tally
                        .by_code
                        .entry("SUBSCRIPTION_ENDED".into())
                        .or_insert(0) += 1;
                }
                _ => bail!("unexpected message {message}"),
            }
        }
    }
    until_complete(&mut socket, None, &mut tally, &events)
        .await?
        .map_err(|code| anyhow::anyhow!("connection_init refused: {code}"))?;
    for (i, dataset) in person.mirrored.iter().enumerate() {
        socket
            .send(send(json!({ "id": format!("sub-{i}"), "type": "subscribe",
                "payload": { "query": CHANGED, "variables": { "id": dataset } } })))
            .await?;
    }
    let mut dice = Dice::new(1000 + connection as u64);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (query, variables) = pick(&person, &mut dice, connection, n);
        let id = format!("op-{n}");
        let started = Instant::now();
        socket
            .send(send(json!({ "id": id, "type": "subscribe",
                "payload": { "query": query, "variables": variables } })))
            .await?;
        let outcome = until_complete(&mut socket, Some(&id), &mut tally, &events).await?;
        tally.record(started, outcome);
    }
    for i in 0..person.mirrored.len() {
        socket
            .send(send(
                json!({ "id": format!("sub-{i}"), "type": "complete" }),
            ))
            .await?;
    }
    socket.close(None).await?;
    // Until the server's close frame.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await {}
    Ok(tally)
}

struct Report {
    backend: Backend,
    duration: Duration,
    tally: Tally,
    start: Usage,
    end: Usage,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

impl Report {
    fn latencies(&self) -> (f64, f64, f64) {
        let mut sorted = self.tally.latencies.clone();
        sorted.sort_unstable();
        (
            percentile(&sorted, 50.0),
            percentile(&sorted, 99.0),
            percentile(&sorted, 100.0),
        )
    }

    fn errors(&self) -> u64 {
        self.tally.by_code.values().sum()
    }

    fn print(&self) {
        let (p50, p99, max) = self.latencies();
        let secs = self.duration.as_secs_f64();
        println!(
            "  {}: {} operations ({:.0}/s), {} errors {:?}, {} subscription events",
            self.backend.name(),
            self.tally.operations,
            self.tally.operations as f64 / secs,
            self.errors(),
            self.tally.by_code,
            self.tally.events
        );
        println!("  latency: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms");
        println!(
            "  server RSS: {} MiB at the start, {} MiB at the end",
            self.start.rss_kib / 1024,
            self.end.rss_kib / 1024
        );
        println!(
            "  idle before: sockets {:?}, threads {}, tasks {:?}",
            self.start.sockets, self.start.threads, self.start.alive_tasks
        );
        println!(
            "  idle after:  sockets {:?}, threads {}, tasks {:?}, subscriptions {:?}",
            self.end.sockets, self.end.threads, self.end.alive_tasks, self.end.active_subscriptions
        );
        println!("  server-side error counts: {:?}", self.end.server_errors);
    }

    fn failures(&self, backend: Backend) -> Vec<String> {
        let mut out = Vec::new();
        let count = |code: &str| {
            self.tally.by_code.get(code).copied().unwrap_or(0)
                + self.end.server_errors.get(code).copied().unwrap_or(0)
        };
        if count("INTERNAL") > 0 {
            out.push(format!("{}: INTERNAL errors", backend.name()));
        }
        if backend == Backend::Postgres && count("BUSY") > 0 {
            out.push("postgres: BUSY errors".into());
        }
        if self.end.sockets.get("clients").copied().unwrap_or(0) > 0 {
            out.push(format!("{}: client sockets left open", backend.name()));
        }
        if self.end.active_subscriptions.unwrap_or(0) > 0 {
            out.push(format!("{}: subscriptions left running", backend.name()));
        }
        out
    }

    fn to_json(&self) -> Value {
        let (p50, p99, max) = self.latencies();
        let usage = |u: &Usage| {
            json!({
                "rss_mib": (u.rss_kib as f64 / 1024.0 * 10.0).round() / 10.0,
                "threads": u.threads,
                "sockets": u.sockets,
                "tasks": u.alive_tasks,
                "subscriptions": u.active_subscriptions,
            })
        };
        json!({
            "operations": self.tally.operations,
            "per_second": (self.tally.operations as f64 / self.duration.as_secs_f64()).round(),
            "errors": self.errors(),
            "errors_by_code": self.tally.by_code,
            "server_errors_by_code": self.end.server_errors,
            "subscription_events": self.tally.events,
            "latency_ms": { "p50": p50, "p99": p99, "max": max },
            "start": usage(&self.start),
            "end": usage(&self.end),
        })
    }
}

async fn soak(settings: &Settings, backend: Backend) -> anyhow::Result<Option<Report>> {
    let Some(database) = SoakDatabase::create(settings, backend).await? else {
        return Ok(None);
    };
    let result = run(settings, backend, &database).await;
    database.drop().await?;
    result.map(Some)
}

async fn run(
    settings: &Settings,
    backend: Backend,
    database: &SoakDatabase,
) -> anyhow::Result<Report> {
    let db_port = database.postgres.as_ref().map(|(server, _)| {
        url::Url::parse(server)
            .ok()
            .and_then(|u| u.port())
            .unwrap_or(5432)
    });
    let launch = Launch {
        env: &[],
        // What is measured must not depend on the shell's settings.
        without_shell_settings: true,
        log_to_file: true,
        ready_within: Duration::from_secs(60),
        wrapper: &[],
    };
    let server = Server::launch(&database.url, &launch).await?;
    let outcome = drive(settings, backend, &server, db_port).await;
    let logs = server.logs();
    server.stop().await?;
    outcome.map_err(|e| {
        let tail: String = logs.lines().rev().take(20).collect::<Vec<_>>().join("\n");
        e.context(format!("server log (last lines, newest first):\n{tail}"))
    })
}

async fn drive(
    settings: &Settings,
    backend: Backend,
    server: &Server,
    db_port: Option<u16>,
) -> anyhow::Result<Report> {
    let url = format!("{}/graphql", server.base);
    let auth = support::authenticator()?;
    let people = set_up(&url, &auth).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = usage(server, db_port).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let mut http = Vec::new();
    for connection in 0..HTTP_CONNECTIONS {
        http.push(tokio::spawn(http_connection(
            url.clone(),
            people[connection % USERS].clone(),
            connection,
            stop.clone(),
        )));
    }
    let ws_url = format!("{}/graphql/ws", server.base.replacen("http://", "ws://", 1));
    let mut ws = Vec::new();
    for connection in 0..WS_CONNECTIONS {
        ws.push(tokio::spawn(ws_connection(
            ws_url.clone(),
            people[connection % USERS].clone(),
            HTTP_CONNECTIONS + connection,
            stop.clone(),
            events.clone(),
        )));
    }
    let began = Instant::now();
    let progress_every = Duration::from_secs(60).min(settings.duration);
    while began.elapsed() < settings.duration {
        let left = settings.duration.saturating_sub(began.elapsed());
        tokio::time::sleep(left.min(progress_every)).await;
        if let Ok(rss) = status_field(server.pid(), "VmRSS:") {
            println!(
                "  {:>4.0} s: server RSS {} MiB, {} subscription events so far",
                began.elapsed().as_secs_f64(),
                rss / 1024,
                events.load(Ordering::Relaxed)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    for task in http {
        tally.merge(task.await?);
    }
    for task in ws {
        match task.await? {
            Ok(t) => tally.merge(t),
            Err(e) => {
                println!("  a WebSocket connection failed: {e:#}");
                *tally.by_code.entry("WS_FAILED".into()).or_insert(0) += 1;
            }
        }
    }
    let duration = began.elapsed();
    // The clients are gone; the server gets a moment to let go of them.
    tokio::time::sleep(SETTLE).await;
    let end = usage(server, db_port).await?;
    Ok(Report {
        backend,
        duration,
        tally,
        start,
        end,
    })
}
