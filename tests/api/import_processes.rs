//! The real `annograph serve` binary as separate OS processes on one
//! database: an import whose server is killed with SIGKILL is finished by
//! the next server, exactly once; servers sharing a PostgreSQL database run
//! each job once and relay its progress to each other's subscribers.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use annograph::auth::Authenticator;
use annograph::config::{AuthConfig, Secret};
use annograph::import::worker::CHUNK;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{json, Value};

use crate::helpers::{fresh_database, SECRET};
use crate::imports::{many_images, slow_server, IMPORT, JOB_FIELDS};
use crate::support::ws::Ws;

/// How long a server may take to answer `/readyz`, and a job to end.
const PATIENCE: Duration = Duration::from_secs(30);
/// Requests per path the slow storage server saw.
type Seen = Arc<Mutex<HashMap<String, usize>>>;

/// One `annograph serve` process on a loopback port of its own, killed
/// (SIGKILL) when dropped. Its log is kept under the target's tmp folder.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Server {
    /// Starts `annograph serve` with `flags` and waits until it is ready.
    async fn start(label: &str, database_url: &str, flags: &[&str]) -> Server {
        // The OS picks a free port; the server binds it again right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("import_processes");
        std::fs::create_dir_all(&logs).expect("log folder");
        let log = logs.join(format!("{label}-{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_annograph"));
        // Settings of the developer's shell must not change what is tested.
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("ANNOGRAPH_")) {
            command.env_remove(name);
        }
        let child = command
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .args(flags)
            .env("ANNOGRAPH_JWT_SECRET", SECRET)
            // The objects are served on loopback.
            .env("ANNOGRAPH_STORAGE_ALLOWED_HOSTS", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("annograph serve starts");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        };
        server.ready().await;
        server
    }

    async fn ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!(
                    "the server exited ({status}) before it was ready: {}",
                    self.logs()
                );
            }
            let answer = self.client.get(format!("{}/readyz", self.base)).send();
            if answer.await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(start.elapsed() < PATIENCE, "not ready: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn logs(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("{}\n{text}", self.log.display())
    }

    /// SIGKILL: no graceful shutdown, so no job is handed back to the queue.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("the server is gone");
    }

    /// Runs a GraphQL request that must succeed; returns `data`.
    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body: Value = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("JSON body");
        assert!(
            body.get("errors").is_none(),
            "unexpected errors: {body:#}\nquery: {query}"
        );
        body["data"].clone()
    }

    async fn job(&self, token: &str, id: &str) -> Value {
        self.ok(
            token,
            &format!("query($id: ID!) {{ importJob(id: $id) {{ {JOB_FIELDS} createdAt }} }}"),
            json!({ "id": id }),
        )
        .await["importJob"]
            .clone()
    }

    /// Polls the job until `done` holds for it.
    async fn job_until(&self, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let job = self.job(token, id).await;
            if done(&job) {
                return job;
            }
            assert!(start.elapsed() < PATIENCE, "still {job:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finished(&self, token: &str, id: &str) -> Value {
        self.job_until(token, id, |job| {
            ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&job["status"].as_str().unwrap_or(""))
        })
        .await
    }

    /// The object URLs of a dataset's files, every page of them.
    async fn object_urls(&self, token: &str, dataset: &str) -> Vec<String> {
        let mut urls = Vec::new();
        let mut after = Value::Null;
        loop {
            let files = self
                .ok(
                    token,
                    "query($id: ID!, $after: String) { dataset(id: $id) {
                        files(first: 100, after: $after) {
                            pageInfo { hasNextPage endCursor } nodes { objectUrl } } } }",
                    json!({ "id": dataset, "after": after }),
                )
                .await["dataset"]["files"]
                .clone();
            let nodes = files["nodes"].as_array().expect("nodes");
            urls.extend(
                nodes
                    .iter()
                    .map(|f| f["objectUrl"].as_str().unwrap().to_owned()),
            );
            if files["pageInfo"]["hasNextPage"] != true {
                return urls;
            }
            after = files["pageInfo"]["endCursor"].clone();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

/// A token the servers accept (HS256 with the test secret); the first
/// request with it provisions the user.
fn token(email: &str) -> String {
    let auth = Authenticator::new(&AuthConfig {
        secret: Some(Secret::new(SECRET)),
        ..AuthConfig::default()
    })
    .expect("authenticator");
    auth.mint(email, None, Duration::from_secs(3600))
        .expect("token")
}

/// `n` images served slowly (20 ms an answer) over HTTP: the server's
/// request log, the storage base URL, and the manifests of `parts` equal
/// slices of them (the folder served lives as long as the returned guard).
async fn slow_images(n: usize, parts: usize) -> (Seen, String, Vec<String>, tempfile::TempDir) {
    let (media, listing) = many_images(n, "");
    let (base, seen, _) = slow_server(media.path().to_path_buf(), Duration::from_millis(20)).await;
    let names: Vec<&str> = listing.lines().skip(1).collect();
    let manifests = names
        .chunks(n.div_ceil(parts))
        .map(|names| {
            names
                .iter()
                .fold(String::from("objectUrl,kind\n"), |m, line| {
                    format!("{m}{base}{line}\n")
                })
        })
        .collect();
    (seen, base, manifests, media)
}

/// An HTTP integration over `base`.
async fn http_integration(server: &Server, token: &str, base: &str) -> String {
    server
        .ok(
            token,
            "mutation($c: JSON!) { createIntegration(input: {title: \"Slow storage\", provider: HTTP, config: $c}) { id } }",
            json!({ "c": { "baseUrl": base, "allowHttp": true } }),
        )
        .await["createIntegration"]["id"]
        .as_str()
        .expect("integration id")
        .to_owned()
}

/// A dataset with a folder of its own.
async fn mirrored_dataset(server: &Server, token: &str, title: &str) -> String {
    let folder = server
        .ok(
            token,
            "mutation($n: String!) { createFolder(input: {name: $n}) { id } }",
            json!({ "n": title }),
        )
        .await["createFolder"]["id"]
        .clone();
    server
        .ok(
            token,
            "mutation($t: String!, $f: ID) { createDataset(input: {title: $t, folderId: $f}) { id } }",
            json!({ "t": title, "f": folder }),
        )
        .await["createDataset"]["id"]
        .as_str()
        .expect("dataset id")
        .to_owned()
}

/// Submits a CSV manifest; returns the job's id.
async fn submit(
    server: &Server,
    token: &str,
    dataset: &str,
    integration: &str,
    manifest: &str,
    ignore_file_errors: bool,
) -> String {
    let job = server
        .ok(
            token,
            IMPORT,
            json!({ "d": dataset, "i": integration, "m": manifest, "ignore": ignore_file_errors }),
        )
        .await["importFromCloud"]
        .clone();
    assert_eq!(job["status"], "QUEUED", "{job:#}");
    job["id"].as_str().expect("job id").to_owned()
}

fn counts(job: &Value) -> [i64; 5] {
    ["total", "processed", "succeeded", "failed", "skipped"].map(|k| job[k].as_i64().unwrap())
}

/// A number the database itself answers, e.g. `SELECT COUNT(*) AS n FROM files`.
async fn count_rows(database_url: &str, sql: &str) -> i64 {
    let db = Database::connect(database_url).await.expect("database");
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .expect("query")
        .expect("a row");
    let n = row.try_get::<i64>("", "n").expect("n");
    db.close().await.ok();
    n
}

/// The database itself holds `n` files, each of a different object URL,
/// and every import item is DONE.
async fn stored_once(database_url: &str, n: usize) {
    let files = count_rows(database_url, "SELECT COUNT(*) AS n FROM files").await;
    let urls = count_rows(
        database_url,
        "SELECT COUNT(DISTINCT object_url) AS n FROM files",
    )
    .await;
    assert_eq!(
        (files, urls),
        (n as i64, n as i64),
        "file rows, object URLs"
    );
    let open = count_rows(
        database_url,
        "SELECT COUNT(*) AS n FROM import_items WHERE status <> 'DONE'",
    )
    .await;
    assert_eq!(open, 0, "import items not DONE");
}

/// The dataset holds each of `n` objects once, by the API and in the database.
async fn registered_once(server: &Server, token: &str, dataset: &str, base: &str, n: usize) {
    let urls = server.object_urls(token, dataset).await;
    let unique: BTreeSet<&String> = urls.iter().collect();
    assert_eq!(urls.len(), n, "files in the dataset");
    assert_eq!(unique.len(), n, "an object URL registered twice");
    assert!(urls.iter().all(|u| u.starts_with(base)), "{urls:?}");
}

/// Objects of one job read at once (`--import-concurrency`).
const CONCURRENCY: &str = "4";
/// Checks how often storage was asked for (HEAD) each of `n` objects: once;
/// after a server was killed, objects of the one chunk that it read but had
/// not saved are read twice. A job run twice would read every object
/// again. Returns how many objects were read more than once.
fn reads(seen: &Seen, n: usize, killed: bool) -> usize {
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (path, times) in seen.lock().unwrap().iter() {
        assert!(!path.contains("//"), "asked for {path}");
        let name = path.rsplit('/').next().unwrap_or(path);
        *by_name.entry(name.to_owned()).or_default() += times;
    }
    assert_eq!(by_name.len(), n, "objects asked for: {by_name:?}");
    let times: Vec<usize> = (0..n)
        .map(|i| by_name.get(&format!("{i:05}.png")).copied().unwrap_or(0))
        .collect();
    let most = 1 + usize::from(killed);
    let again: Vec<usize> = (0..n).filter(|i| times[*i] != 1).collect();
    let report = format!("objects not read exactly once: {again:?}");
    assert!(times.iter().all(|t| (1..=most).contains(t)), "{report}");
    // The objects read twice lie within one chunk: the one the killed server
    // read but had not saved. Not necessarily every object of it: of the
    // reads it had in flight (`CONCURRENCY` at once), those that had not
    // reached storage when it died are read only once.
    if let (Some(first), Some(last)) = (again.first(), again.last()) {
        assert!(last - first < CHUNK as usize, "{report}");
    }
    again.len()
}

/// Kills the server running an import midway (SIGKILL), starts another on
/// the same database, and checks the job ends with every object registered
/// exactly once and only the killed, unsaved work read again.
async fn an_import_survives_the_kill_of_its_server(ignore_file_errors: bool) {
    const TOTAL: usize = 300;
    let started = Instant::now();
    let (database_url, _dir) = fresh_database().await;
    let (seen, base, manifests, _media) = slow_images(TOTAL, 1).await;
    let flags = [
        "--import-stale-after",
        "2s",
        "--import-concurrency",
        CONCURRENCY,
    ];
    let mode = if ignore_file_errors {
        "lenient"
    } else {
        "strict"
    };

    let a = Server::start(&format!("killed-{mode}"), &database_url, &flags).await;
    let ann = token("ann@example.com");
    let storage = http_integration(&a, &ann, &base).await;
    let dataset = mirrored_dataset(&a, &ann, "Imported").await;
    let id = submit(
        &a,
        &ann,
        &dataset,
        &storage,
        &manifests[0],
        ignore_file_errors,
    )
    .await;
    let midway = a
        .job_until(&ann, &id, |job| job["processed"].as_i64() > Some(0))
        .await;
    a.kill();
    let processed = midway["processed"].as_i64().unwrap();
    assert!(
        processed < TOTAL as i64,
        "ended before the kill: {midway:#}"
    );
    assert_eq!(midway["status"], "RUNNING");

    let b = Server::start(&format!("resumed-{mode}"), &database_url, &flags).await;
    // What the killed server saved stays; its job is still RUNNING until
    // its heartbeat is stale and the new server takes it over.
    let before = b.job(&ann, &id).await;
    assert_eq!(before["status"], "RUNNING", "{before:#}");
    assert!(before["processed"].as_i64().unwrap() >= processed);

    let done = b.finished(&ann, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done:#}\n{}", b.logs());
    let total = TOTAL as i64;
    assert_eq!(counts(&done), [total, total, total, 0, 0], "{done:#}");
    assert_eq!(done["errors"]["totalCount"], 0);
    registered_once(&b, &ann, &dataset, &base, TOTAL).await;
    stored_once(&database_url, TOTAL).await;
    let again = reads(&seen, TOTAL, true);
    println!(
        "{mode}: killed at {processed}/{TOTAL}, {again} objects read again, {:?} in all",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_import_ignoring_file_errors_finishes_exactly_once_after_its_server_is_killed() {
    an_import_survives_the_kill_of_its_server(true).await;
}

#[tokio::test]
async fn an_all_or_nothing_import_finishes_exactly_once_after_its_server_is_killed() {
    an_import_survives_the_kill_of_its_server(false).await;
}

const PROGRESS: &str = "subscription($id: ID!) { importProgress(jobId: $id) {
    status total processed succeeded failed skipped } }";

/// The states `importProgress` sends over `/graphql/ws`
/// (graphql-transport-ws) until the server completes the subscription.
async fn progress(server: &Server, token: &str, job: &str) -> Vec<Value> {
    let url = format!("{}/graphql/ws", server.base.replacen("http://", "ws://", 1));
    let mut ws = Ws::open_url(&url, Some("graphql-transport-ws"), None).await;
    // The protocol allows `subscribe` only after `connection_ack`.
    ws.init(Some(token)).await;
    ws.subscribe("1", PROGRESS, json!({ "id": job })).await;
    let mut states = Vec::new();
    loop {
        let message = ws.recv().await;
        match message["type"].as_str() {
            Some("next") => {
                assert!(message["payload"].get("errors").is_none(), "{message:#}");
                states.push(message["payload"]["data"]["importProgress"].clone());
            }
            Some("complete") => return states,
            _ => panic!("unexpected {message:#}"),
        }
    }
}

/// Checks a stream of states: counts never go back, and it ends SUCCEEDED
/// with `total` registered; returns the states seen midway.
fn ends_succeeded(states: &[Value], total: i64) -> usize {
    let processed: Vec<i64> = states
        .iter()
        .map(|s| s["processed"].as_i64().unwrap())
        .collect();
    assert!(processed.windows(2).all(|w| w[0] <= w[1]), "{states:#?}");
    let last = states.last().expect("at least one state");
    assert_eq!(last["status"], "SUCCEEDED", "{states:#?}");
    assert_eq!(counts(last), [total, total, total, 0, 0]);
    processed.iter().filter(|p| (1..total).contains(*p)).count()
}

#[tokio::test]
async fn on_postgresql_an_instance_without_workers_hands_its_job_to_another_that_runs_it_once() {
    if !on_postgres() {
        println!("skipped: several instances share a database on PostgreSQL only");
        return;
    }
    const TOTAL: usize = 300;
    let started = Instant::now();
    let (database_url, _) = fresh_database().await;
    let (seen, base, manifests, _media) = slow_images(TOTAL, 1).await;
    let a = Server::start("accepts", &database_url, &["--import-jobs", "0"]).await;
    let b = Server::start(
        "runs",
        &database_url,
        &["--import-concurrency", CONCURRENCY],
    )
    .await;
    let ann = token("ann@example.com");
    let storage = http_integration(&a, &ann, &base).await;
    let dataset = mirrored_dataset(&a, &ann, "Imported").await;
    let id = submit(&a, &ann, &dataset, &storage, &manifests[0], true).await;

    // B runs the job and hears of its progress itself; A only through the
    // database's notifications.
    let (on_a, on_b) = tokio::join!(progress(&a, &ann, &id), progress(&b, &ann, &id));
    let total = TOTAL as i64;
    let midway = (ends_succeeded(&on_a, total), ends_succeeded(&on_b, total));
    // B publishes a state at each checkpoint (every 500 ms); without the
    // relay A would only re-read the job every 2 s, a quarter as often.
    assert!(
        midway.1 >= 3 && midway.0 * 2 >= midway.1,
        "states midway (A, B): {midway:?}"
    );

    let done = a.finished(&ann, &id).await;
    assert_eq!(counts(&done), [total, total, total, 0, 0]);
    // B heard of the job when it was queued, not at its next poll (5 s).
    let waited = chrono::DateTime::parse_from_rfc3339(done["startedAt"].as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(done["createdAt"].as_str().unwrap()).unwrap();
    assert!(
        waited < chrono::Duration::seconds(3),
        "started after {waited}"
    );
    let again = reads(&seen, TOTAL, false);
    registered_once(&b, &ann, &dataset, &base, TOTAL).await;
    stored_once(&database_url, TOTAL).await;
    println!(
        "states midway (A, B): {midway:?}; {again} objects read again; {:?} in all",
        started.elapsed()
    );
}

#[tokio::test]
async fn on_postgresql_two_instances_share_the_jobs_and_run_each_once() {
    if !on_postgres() {
        println!("skipped: several instances share a database on PostgreSQL only");
        return;
    }
    const JOBS: usize = 4;
    const EACH: usize = 100;
    let started = Instant::now();
    let (database_url, _) = fresh_database().await;
    let (seen, base, manifests, _media) = slow_images(JOBS * EACH, JOBS).await;
    let flags = ["--import-concurrency", CONCURRENCY];
    let a = Server::start("shares-a", &database_url, &flags).await;
    let b = Server::start("shares-b", &database_url, &flags).await;
    let ann = token("ann@example.com");
    let storage = http_integration(&a, &ann, &base).await;
    let mut jobs = Vec::new();
    for (i, manifest) in manifests.iter().enumerate() {
        let dataset = mirrored_dataset(&a, &ann, &format!("Part {i}")).await;
        let id = submit(&a, &ann, &dataset, &storage, manifest, true).await;
        jobs.push((dataset, id));
    }

    let each = EACH as i64;
    for (dataset, id) in &jobs {
        let done = a.finished(&ann, id).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done:#}");
        assert_eq!(counts(&done), [each, each, each, 0, 0], "{done:#}");
        registered_once(&b, &ann, dataset, &base, EACH).await;
    }
    let again = reads(&seen, JOBS * EACH, false);
    stored_once(&database_url, JOBS * EACH).await;
    // Each instance runs two jobs at once: the two it could not take at
    // once went to the other.
    let workers = count_rows(
        &database_url,
        "SELECT COUNT(DISTINCT worker) AS n FROM import_jobs",
    )
    .await;
    assert_eq!(workers, 2, "instances that ran jobs");
    println!("{again} objects read again; {:?} in all", started.elapsed());
}
