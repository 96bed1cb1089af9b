//! Speed on a workspace of realistic size: each everyday operation through
//! the real server over HTTP, as a real user, beside the hand-written SQL
//! that returns the same rows, on SQLite and PostgreSQL in one run.
//!
//! For each database the benchmark takes a workspace made by `annograph
//! seed` (seeding it the first time and keeping it, keyed by its shape and
//! the migrations, under `target/tmp/bench-workspace/` for SQLite and as
//! the PostgreSQL database `annograph_bench_<key>`), starts the built
//! `annograph serve` as a child process on a loopback port, signs tokens
//! for the seed's heavy, light and ADMIN users, and times every operation
//! through HTTP and its SQL from this process. It checks that both return
//! the same rows (ids in order, counts), counts the SQL statements each
//! request sends (the server's `/metrics`), and prints p50/p99 and their
//! ratios. The last line printed is one JSON object with every figure and,
//! for each target, whether it is met.
//!
//! ```text
//! cargo bench --bench api                       # both databases, default workspace
//! cargo bench --bench api -- --load             # 64 connections, 10 s per query
//! cargo bench --bench api -- --load --connections 16 --seconds 10
//! cargo bench --bench api -- --full             # 3 runs of 500 requests per operation
//! cargo bench --bench api -- --scale 5          # 5x users, groups, datasets and projects
//! cargo bench --bench api -- --small --sqlite   # a small workspace, SQLite only
//! cargo bench --bench api -- --instructions     # the server's instructions per request (valgrind)
//! ```
//!
//! | option / variable | default | meaning |
//! |---|---|---|
//! | `--sqlite`, `--postgres` | both | only this database |
//! | `BENCH_DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/test` | a PostgreSQL server (the user may create databases); unreachable: PostgreSQL is skipped with a note |
//! | `--samples N` | 200 | requests per operation and run (at most 15 s of them unless `--full`) |
//! | `--runs N` | 1 | runs per operation (p50 and p99 are the medians over runs) |
//! | `--full` | — | 500 samples × 3 runs, no time cap |
//! | `--load` | — | load mode: concurrent requests of A and B instead of the latency runs |
//! | `--connections N` | 64 | load mode: concurrent connections |
//! | `--seconds N` | 10 | load mode: seconds per query |
//! | `--scale N` | 1 | users, groups, datasets and projects times N (A / light is also measured at 1 for the ratio) |
//! | `--small` | — | a workspace of 2,000 users and 400 datasets (a quick check) |
//! | `--instructions` | — | instead of times: the instructions the server runs per request of A and B (callgrind; the same from run to run, where times on a shared machine are not) |
//! | `--profiles DIR` | — | with `--instructions`: keep each query's callgrind profile in DIR (`<database>-<query>.callgrind`, for `callgrind_annotate`) |

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annograph::policy::{Action, Kind, Policy, Role};
use annograph::seed::Shape;
use anyhow::{bail, Context as _};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value as Sql};
use serde_json::{json, Value};
use sha2::Digest;
use uuid::Uuid;

#[allow(dead_code)] // each benchmark uses part of it
mod support;
use support::{cpu_seconds, postgres_cpu_seconds, Backend, Launch, Server};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
/// How long one operation's samples may take on one side (unless `--full`).
const SAMPLE_BUDGET: Duration = Duration::from_secs(15);
const MIN_SAMPLES: usize = 20;
const WARMUP: usize = 5;

// ---- options ---------------------------------------------------------------

#[derive(Debug, Clone)]
struct Options {
    sqlite: bool,
    postgres: bool,
    pg_url: String,
    samples: usize,
    runs: usize,
    budget: Option<Duration>,
    load: bool,
    connections: usize,
    seconds: u64,
    scale: usize,
    small: bool,
    instructions: bool,
    profiles: Option<PathBuf>,
}

impl Options {
    fn parse() -> anyhow::Result<Options> {
        let mut o = Options {
            sqlite: true,
            postgres: true,
            pg_url: std::env::var("BENCH_DATABASE_URL")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_PG.to_owned()),
            samples: 200,
            runs: 1,
            budget: Some(SAMPLE_BUDGET),
            load: false,
            connections: 64,
            seconds: 10,
            scale: 1,
            small: false,
            instructions: false,
            profiles: None,
        };
        let (mut only_sqlite, mut only_pg) = (false, false);
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> anyhow::Result<usize> {
                let v = args
                    .next()
                    .with_context(|| format!("{name} needs a number"))?;
                let n: usize = v.parse().with_context(|| format!("{name} {v:?}"))?;
                if n == 0 {
                    bail!("{name} must be at least 1");
                }
                Ok(n)
            };
            match arg.as_str() {
                // cargo bench passes --bench to every benchmark.
                "--bench" => {}
                "--sqlite" => only_sqlite = true,
                "--postgres" => only_pg = true,
                "--samples" => o.samples = number("--samples")?,
                "--runs" => o.runs = number("--runs")?,
                "--full" => {
                    o.samples = 500;
                    o.runs = 3;
                    o.budget = None;
                }
                "--load" => o.load = true,
                "--connections" => o.connections = number("--connections")?,
                "--seconds" => o.seconds = number("--seconds")? as u64,
                "--scale" => o.scale = number("--scale")?,
                "--small" => o.small = true,
                "--instructions" => o.instructions = true,
                "--profiles" => {
                    o.profiles = Some(args.next().context("--profiles needs a directory")?.into())
                }
                other => bail!("unknown option {other} (see the top of benches/api.rs)"),
            }
        }
        if only_sqlite || only_pg {
            o.sqlite = only_sqlite;
            o.postgres = only_pg;
        }
        Ok(o)
    }

    fn shape(&self, scale: usize) -> Shape {
        let base = if self.small {
            Shape {
                users: 2_000,
                groups: 40,
                datasets: 400,
                files: 20_000,
                projects: 40,
                ..Shape::default()
            }
        } else {
            Shape::default()
        };
        Shape {
            users: base.users * scale,
            groups: base.groups * scale,
            datasets: base.datasets * scale,
            projects: base.projects * scale,
            ..base
        }
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(options))
}

// ---- workspaces -----------------------------------------------------------

/// A seeded database ready to serve, and how long seeding took (when this
/// run seeded it).
struct Workspace {
    url: String,
    seeded_in: Option<Duration>,
}

/// The key of a workspace: its shape and the migrations it was made with.
fn workspace_key(shape: &Shape) -> String {
    use migration::MigratorTrait as _;
    let migrations: Vec<String> = migration::Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let text = format!("seed-v1|{shape:?}|{}", migrations.join(","));
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..6])
}

fn seed_args(shape: &Shape) -> Vec<String> {
    vec![
        "seed".into(),
        "--users".into(),
        shape.users.to_string(),
        "--groups".into(),
        shape.groups.to_string(),
        "--datasets".into(),
        shape.datasets.to_string(),
        "--files".into(),
        shape.files.to_string(),
        "--projects".into(),
        shape.projects.to_string(),
        "--seed".into(),
        shape.seed.to_string(),
    ]
}

/// Runs `annograph seed` into `url`; returns the time it took.
fn run_seed(shape: &Shape, url: &str) -> anyhow::Result<Duration> {
    eprintln!("seeding {} ({shape:?})…", redact(url));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_annograph"))
        .args(seed_args(shape))
        .env("DATABASE_URL", url)
        .env("ANNOGRAPH_LOG", "warn")
        .output()
        .context("running annograph seed")?;
    let took = started.elapsed();
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        bail!(
            "annograph seed failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!("seeded in {:.1} s", took.as_secs_f64());
    Ok(took)
}

fn redact(url: &str) -> String {
    annograph::app::redact(url)
}

async fn sqlite_workspace(shape: &Shape) -> anyhow::Result<Workspace> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-workspace");
    std::fs::create_dir_all(&dir)?;
    let key = workspace_key(shape);
    let path = dir.join(format!("{key}.db"));
    let url = |p: &Path| format!("sqlite://{}?mode=rwc", p.display());
    if path.exists() {
        eprintln!("sqlite: reusing the workspace {}", path.display());
        return Ok(Workspace {
            url: url(&path),
            seeded_in: None,
        });
    }
    let partial = dir.join(format!("{key}.partial.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
    }
    let took = run_seed(shape, &url(&partial))?;
    for suffix in ["-wal", "-shm"] {
        let side = format!("{}{suffix}", partial.display());
        if Path::new(&side).exists() {
            std::fs::rename(&side, format!("{}{suffix}", path.display()))?;
        }
    }
    std::fs::rename(&partial, &path)?;
    Ok(Workspace {
        url: url(&path),
        seeded_in: Some(took),
    })
}

async fn postgres_workspace(admin_url: &str, shape: &Shape) -> anyhow::Result<Workspace> {
    let admin = tokio::time::timeout(Duration::from_secs(5), Database::connect(admin_url))
        .await
        .context("timed out")??;
    let key = workspace_key(shape);
    let name = format!("annograph_bench_{key}");
    let partial = format!("{name}_partial");
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await?
        .is_some();
    let url = annograph::app::database_url_named(admin_url, &name);
    if exists {
        eprintln!("postgres: reusing the workspace database {name}");
        return Ok(Workspace {
            url,
            seeded_in: None,
        });
    }
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {partial}"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {partial}"))
        .await?;
    let took = run_seed(
        shape,
        &annograph::app::database_url_named(admin_url, &partial),
    )?;
    admin
        .execute_unprepared(&format!("ALTER DATABASE {partial} RENAME TO {name}"))
        .await?;
    admin.close().await.ok();
    Ok(Workspace {
        url,
        seeded_in: Some(took),
    })
}

// ---- the server -------------------------------------------------------------

impl Server {
    /// The server as this benchmark measures it: without import workers,
    /// whose polls would count among a request's statements, and with the
    /// shell's `ANNOGRAPH_*` settings, so that they can be tried.
    async fn start(database_url: &str) -> anyhow::Result<Server> {
        let launch = Launch {
            env: &[("ANNOGRAPH_IMPORT_JOBS", "0")],
            without_shell_settings: false,
            log_to_file: false,
            // A large workspace on PostgreSQL may take its time.
            ready_within: Duration::from_secs(600),
            wrapper: &[],
        };
        Server::launch(database_url, &launch).await
    }
}

/// A signed-in HTTP client of the server.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    url: String,
    metrics: String,
}

impl Http {
    fn new(server: &Server) -> Http {
        Http {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
            url: format!("{}/graphql", server.base),
            metrics: format!("{}/metrics", server.base),
        }
    }

    /// One request; the time until its whole body arrived, and the body.
    async fn post(
        &self,
        token: &str,
        query: &str,
        variables: &Value,
    ) -> anyhow::Result<(Duration, Value)> {
        let body = serde_json::to_vec(&json!({ "query": query, "variables": variables }))?;
        let started = Instant::now();
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let bytes = response.bytes().await?;
        let took = started.elapsed();
        let value: Value = serde_json::from_slice(&bytes)?;
        if let Some(errors) = value.get("errors") {
            bail!("errors: {errors}");
        }
        Ok((took, value["data"].clone()))
    }

    async fn statements(&self) -> anyhow::Result<u64> {
        let text = self.client.get(&self.metrics).send().await?.text().await?;
        text.lines()
            .find_map(|l| l.strip_prefix("annograph_sql_statements_total "))
            .and_then(|n| n.trim().parse().ok())
            .context("no annograph_sql_statements_total in /metrics")
    }
}

// ---- hand-written SQL ---------------------------------------------------------

/// `$1`-style SQL on either database (SQLite takes `?1`).
fn statement(backend: DbBackend, sql: &str, values: Vec<Sql>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

fn quoted(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| format!("'{r}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The CTEs `g` (groups whose grants reach user `$1`), `pr` (projects they
/// may view) and `v` (datasets they may view), each from index range scans.
fn visible_ctes(policy: &Policy) -> String {
    let inherit = quoted(policy.inheriting_membership_roles());
    let pview = quoted(policy.roles_allowing(Kind::Project, Action::View));
    let dview = quoted(policy.roles_allowing(Kind::Dataset, Action::View));
    format!(
        "WITH g AS (SELECT group_id FROM group_memberships WHERE user_id = $1 AND role IN ({inherit})),
pr AS (SELECT resource_id FROM role_grants WHERE user_id = $1 AND resource_type = 'project' AND role IN ({pview})
  UNION SELECT resource_id FROM role_grants WHERE group_id IN (SELECT group_id FROM g) AND resource_type = 'project' AND role IN ({pview})),
v AS (SELECT resource_id AS id FROM role_grants WHERE user_id = $1 AND resource_type = 'dataset' AND role IN ({dview})
  UNION SELECT resource_id FROM role_grants WHERE group_id IN (SELECT group_id FROM g) AND resource_type = 'dataset' AND role IN ({dview})
  UNION SELECT dataset_id FROM project_datasets WHERE project_id IN (SELECT resource_id FROM pr))"
    )
}

struct Sqls {
    a: String,
    b: String,
    files_page: String,
    project_head: String,
    project_collaborators: String,
    project_datasets: String,
    viewer_can: String,
    grant_insert: String,
    grant_delete: String,
    workspace_search: String,
    my_projects_admin: String,
    my_datasets_roles: String,
    workspace_not_joined: String,
}

impl Sqls {
    fn new(policy: &Policy) -> Sqls {
        let vis = visible_ctes(policy);
        let files_of_page =
            "cand AS (SELECT df.dataset_id AS d, df.file_id AS f FROM dataset_files df
    WHERE df.dataset_id IN (SELECT id FROM page WHERE folder_id IS NULL)
  UNION ALL SELECT p.id, fl.id FROM page p CROSS JOIN files fl WHERE fl.folder_id = p.folder_id),
ranked AS (SELECT d, f, ROW_NUMBER() OVER (PARTITION BY d ORDER BY f) AS rn,
  COUNT(*) OVER (PARTITION BY d) AS n FROM cand)";
        let dview = quoted(policy.roles_allowing(Kind::Dataset, Action::View));
        let fview = quoted(policy.roles_allowing(Kind::Folder, Action::View));
        Sqls {
            a: format!(
                "{vis}
SELECT d.id, d.title, d.created_at, (SELECT COUNT(*) FROM v) AS total
FROM datasets d WHERE d.id IN (SELECT id FROM v)
ORDER BY d.created_at DESC, d.id DESC LIMIT 50"
            ),
            b: format!(
                "{vis},
page AS (SELECT d.id, d.title, d.created_at, d.folder_id FROM datasets d
  WHERE d.id IN (SELECT id FROM v) ORDER BY d.created_at DESC, d.id DESC LIMIT 50),
{files_of_page}
SELECT p.id, p.title, p.created_at, (SELECT COUNT(*) FROM v) AS total, r.n, r.rn, fi.title AS file_title
FROM page p LEFT JOIN ranked r ON r.d = p.id AND r.rn <= 20 LEFT JOIN files fi ON fi.id = r.f
ORDER BY p.created_at DESC, p.id DESC, r.rn"
            ),
            // The page's keys first, from the (dataset_id, file_id) key,
            // then only their files: a join of the two tables ordered by
            // file id lets PostgreSQL walk `files` by its key instead.
            files_page: "SELECT f.id, f.title FROM (SELECT file_id FROM dataset_files
  WHERE dataset_id = $1 AND file_id > $2 ORDER BY file_id LIMIT 51) k
JOIN files f ON f.id = k.file_id ORDER BY f.id"
                .to_owned(),
            project_head: "SELECT p.id, p.title, o.id AS ontology_id, o.title AS ontology_title
FROM projects p JOIN ontologies o ON o.id = p.ontology_id WHERE p.id = $1"
                .to_owned(),
            project_collaborators: "SELECT rg.role, u.id AS user_id, u.email, gr.id AS group_id, gr.name
FROM role_grants rg LEFT JOIN users u ON u.id = rg.user_id LEFT JOIN groups gr ON gr.id = rg.group_id
WHERE rg.resource_type = 'project' AND rg.resource_id = $1 ORDER BY rg.id"
                .to_owned(),
            project_datasets: format!(
                "{vis},
page AS (SELECT d.id, d.title, d.folder_id FROM datasets d
  WHERE d.id IN (SELECT dataset_id FROM project_datasets WHERE project_id = $2)
    AND d.id IN (SELECT id FROM v)),
{files_of_page}
SELECT p.id, p.title, r.n, r.rn, fi.id AS file_id, fi.title AS file_title, fo.id AS folder_id, fo.name AS folder_name
FROM page p LEFT JOIN ranked r ON r.d = p.id AND r.rn <= 20 LEFT JOIN files fi ON fi.id = r.f
LEFT JOIN folders fo ON fo.id = fi.folder_id AND fo.id IN (
  SELECT resource_id FROM role_grants WHERE user_id = $1 AND resource_type = 'folder' AND role IN ({fview})
  UNION SELECT resource_id FROM role_grants WHERE group_id IN (SELECT group_id FROM g) AND resource_type = 'folder' AND role IN ({fview}))
ORDER BY p.id, r.rn"
            ),
            viewer_can: format!(
                "{vis},
page AS (SELECT d.id, d.created_at FROM datasets d WHERE d.id IN (SELECT id FROM v)
  ORDER BY d.created_at, d.id LIMIT 100)
SELECT p.id, rg.role FROM page p LEFT JOIN role_grants rg ON rg.resource_type = 'dataset'
  AND rg.resource_id = p.id AND (rg.user_id = $1 OR rg.group_id IN (SELECT group_id FROM g))
ORDER BY p.created_at, p.id"
            ),
            grant_insert: "INSERT INTO role_grants (id, resource_type, resource_id, user_id, group_id, role, created_by, created_at)
VALUES ($1, 'dataset', $2, $3, NULL, 'USER', $4, $5)"
                .to_owned(),
            grant_delete: "DELETE FROM role_grants WHERE resource_type = 'dataset' AND resource_id = $1 AND user_id = $2"
                .to_owned(),
            workspace_search: "SELECT id, title, COUNT(*) OVER () AS total FROM datasets
WHERE LOWER(title) LIKE '%farm%' OR LOWER(description) LIKE '%farm%'
ORDER BY created_at, id LIMIT 50"
                .to_owned(),
            my_projects_admin: "WITH g AS (SELECT group_id FROM group_memberships WHERE user_id = $1 AND role = 'MEMBER'),
mine AS (SELECT resource_id FROM role_grants WHERE user_id = $1 AND resource_type = 'project' AND role = 'ADMIN'
  UNION SELECT resource_id FROM role_grants WHERE group_id IN (SELECT group_id FROM g) AND resource_type = 'project' AND role = 'ADMIN')
SELECT p.id, (SELECT COUNT(*) FROM mine) AS total FROM projects p WHERE p.id IN (SELECT resource_id FROM mine)
ORDER BY p.created_at, p.id LIMIT 50"
                .to_owned(),
            my_datasets_roles: format!(
                "WITH g AS (SELECT group_id FROM group_memberships WHERE user_id = $1 AND role = 'MEMBER'),
mine AS (SELECT resource_id FROM role_grants WHERE user_id = $1 AND resource_type = 'dataset' AND role IN ({dview})
  UNION SELECT resource_id FROM role_grants WHERE group_id IN (SELECT group_id FROM g) AND resource_type = 'dataset' AND role IN ({dview}))
SELECT d.id, (SELECT COUNT(*) FROM mine) AS total FROM datasets d WHERE d.id IN (SELECT resource_id FROM mine)
ORDER BY d.created_at, d.id LIMIT 50"
            ),
            workspace_not_joined: "WITH g AS (SELECT group_id FROM group_memberships WHERE user_id = $1 AND role = 'MEMBER'),
joined AS (SELECT resource_id FROM role_grants WHERE user_id = $1 AND resource_type = 'dataset'
  UNION SELECT resource_id FROM role_grants WHERE group_id IN (SELECT group_id FROM g) AND resource_type = 'dataset')
SELECT d.id, COUNT(*) OVER () AS total FROM datasets d WHERE d.id NOT IN (SELECT resource_id FROM joined)
ORDER BY d.created_at, d.id LIMIT 50"
                .to_owned(),
        }
    }
}

// ---- the operations ------------------------------------------------------------

const A: &str = "query { datasets(first: 50, orderBy: {field: CREATED_AT, direction: DESC}) {
  totalCount nodes { id title createdAt } } }";
const B: &str = "query { datasets(first: 50, orderBy: {field: CREATED_AT, direction: DESC}) {
  totalCount nodes { id title createdAt files(first: 20) { totalCount nodes { title } } } } }";
const A_FIRST_5: &str =
    "query { datasets(first: 5, orderBy: {field: CREATED_AT, direction: DESC}) {
  totalCount nodes { id title createdAt } } }";
const B_FIRST_5: &str =
    "query { datasets(first: 5, orderBy: {field: CREATED_AT, direction: DESC}) {
  totalCount nodes { id title createdAt files(first: 5) { totalCount nodes { title } } } } }";
const FILES_PAGE: &str = "query($id: ID!, $after: String) { dataset(id: $id) {
  files(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { id title } } } }";
const NESTED: &str = "query($id: ID!) { project(id: $id) { id title
  ontology { id title }
  collaborators { role user { id email } group { id name } }
  datasets { id title files(first: 20) { totalCount nodes { id title folder { id name } } } } } }";
const VIEWER_CAN: &str = "query { datasets(first: 100) { nodes { id
  viewerCan { view addData adjustSettings delete attachToProject } } } }";
const GRANT: &str = "mutation($d: ID!, $u: ID!) {
  addDatasetCollaborators(input: {datasetId: $d, userIds: [$u], role: USER}) { id } }";
const REVOKE: &str = "mutation($d: ID!, $u: ID!) {
  removeDatasetCollaborator(input: {datasetId: $d, userId: $u}) { id } }";
const SEARCH: &str =
    "query { workspaceDatasets(first: 50, search: \"farm\") { totalCount nodes { id title } } }";
const MY_PROJECTS_ADMIN: &str =
    "query { projects(first: 50, myRole: [ADMIN]) { totalCount nodes { id } } }";
const MY_DATASETS_ROLES: &str =
    "query { datasets(first: 50, myRole: [ADMIN, USER]) { totalCount nodes { id } } }";
const NOT_JOINED: &str =
    "query { workspaceDatasets(first: 50, joined: false) { totalCount nodes { id } } }";

fn global(ty: &str, id: Uuid) -> String {
    annograph::ids::encode(ty, id)
}

fn local(global: &Value) -> String {
    global
        .as_str()
        .and_then(annograph::ids::decode)
        .map(|(_, id)| id.to_string())
        .unwrap_or_else(|| format!("?{global}"))
}

/// Who and what the operations run on, found in the workspace.
struct Cast {
    heavy: Uuid,
    light: Uuid,
    admin: Uuid,
    heavy_token: String,
    light_token: String,
    admin_token: String,
    big_dataset: Uuid,
    heavy_project: Uuid,
}

async fn cast(db: &DatabaseConnection, server: &Server, shape: &Shape) -> anyhow::Result<Cast> {
    let backend = db.get_database_backend();
    let user = |email: String| async move {
        let row = db
            .query_one_raw(statement(
                backend,
                "SELECT id FROM users WHERE email = $1",
                vec![email.clone().into()],
            ))
            .await?
            .with_context(|| format!("no user {email}"))?;
        anyhow::Ok(row.try_get::<Uuid>("", "id")?)
    };
    let heavy = user(shape.heavy_user.clone()).await?;
    let light = user(shape.light_user.clone()).await?;
    let admin = user(shape.admin_user.clone()).await?;
    let big = db
        .query_one_raw(statement(
            backend,
            "SELECT rg.resource_id AS id FROM role_grants rg
             WHERE rg.user_id = $1 AND rg.resource_type = 'dataset' AND rg.role = 'ADMIN'
             ORDER BY (SELECT COUNT(*) FROM dataset_files df WHERE df.dataset_id = rg.resource_id) DESC, rg.resource_id
             LIMIT 1",
            vec![heavy.into()],
        ))
        .await?
        .context("the heavy user administers no dataset")?
        .try_get::<Uuid>("", "id")?;
    let project = db
        .query_one_raw(statement(
            backend,
            "SELECT resource_id AS id FROM role_grants WHERE user_id = $1
             AND resource_type = 'project' AND role = 'ADMIN' ORDER BY resource_id LIMIT 1",
            vec![heavy.into()],
        ))
        .await?
        .context("the heavy user administers no project")?
        .try_get::<Uuid>("", "id")?;
    Ok(Cast {
        heavy,
        light,
        admin,
        heavy_token: server.token(&shape.heavy_user)?,
        light_token: server.token(&shape.light_user)?,
        admin_token: server.token(&shape.admin_user)?,
        big_dataset: big,
        heavy_project: project,
    })
}

// ---- measuring -------------------------------------------------------------------

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(values, 50.0)
}

/// p50 and p99 in milliseconds: the medians over runs of each run's.
#[derive(Debug, Clone, Copy, Default)]
struct Latency {
    p50: f64,
    p99: f64,
    samples: usize,
}

fn summarize(runs: &[Vec<Duration>]) -> Latency {
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for run in runs {
        let mut ms: Vec<f64> = run.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        p50s.push(percentile(&ms, 50.0));
        p99s.push(percentile(&ms, 99.0));
    }
    Latency {
        p50: median(&mut p50s),
        p99: median(&mut p99s),
        samples: runs.iter().map(Vec::len).sum(),
    }
}

/// Times `step` (which returns the time of what it measured) in runs of
/// samples after a warm-up.
async fn sample<F, Fut>(options: &Options, mut step: F) -> anyhow::Result<Latency>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>>,
{
    let mut i = 0;
    for _ in 0..WARMUP {
        step(i).await?;
        i += 1;
    }
    let mut runs = Vec::new();
    for _ in 0..options.runs {
        let started = Instant::now();
        let mut run = Vec::with_capacity(options.samples);
        while run.len() < options.samples {
            run.push(step(i).await?);
            i += 1;
            if let Some(budget) = options.budget {
                if run.len() >= MIN_SAMPLES && started.elapsed() > budget {
                    break;
                }
            }
        }
        runs.push(run);
    }
    Ok(summarize(&runs))
}

/// The figures of one operation on one database.
#[derive(Debug, Clone, Default)]
struct Figures {
    http: Latency,
    sql: Latency,
    agree: Option<bool>,
    /// What differed, when the results disagree.
    difference: Option<String>,
    /// SQL statements of single requests: (fewest, most).
    statements: Option<(u64, u64)>,
    served: bool,
    /// Why the operation could not be measured.
    error: Option<String>,
}

/// An operation that failed: measured as nothing, reported with its error.
fn failed(e: anyhow::Error) -> Figures {
    Figures {
        served: true,
        agree: Some(false),
        error: Some(format!("{e:#}")),
        ..Figures::default()
    }
}

impl Figures {
    fn json(&self) -> Value {
        if !self.served {
            return json!({ "served": false });
        }
        if let Some(error) = &self.error {
            return json!({ "served": true, "error": error });
        }
        json!({
            "served": true,
            "http_p50_ms": round(self.http.p50),
            "http_p99_ms": round(self.http.p99),
            "sql_p50_ms": round(self.sql.p50),
            "sql_p99_ms": round(self.sql.p99),
            "ratio_p50": round(self.http.p50 / self.sql.p50),
            "ratio_p99": round(self.http.p99 / self.sql.p99),
            "http_samples": self.http.samples,
            "sql_samples": self.sql.samples,
            "agree": self.agree,
            "difference": self.difference,
            "statements_min": self.statements.map(|s| s.0),
            "statements_max": self.statements.map(|s| s.1),
        })
    }
}

fn round(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

fn compare(figures: &mut Figures, http: &Value, sql: &Value) {
    figures.agree = Some(http == sql);
    if http != sql {
        let mut difference = first_difference(http, sql);
        if same_items(http, sql) {
            difference = format!("the same rows in another order ({difference})");
        }
        figures.difference = Some(difference);
    }
}

/// Whether two results hold the same items, ignoring the order of lists.
fn same_items(http: &Value, sql: &Value) -> bool {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Array(items) => {
                let mut items: Vec<Value> = items.iter().map(sorted).collect();
                items.sort_by_key(|i| i.to_string());
                Value::Array(items)
            }
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            other => other.clone(),
        }
    }
    sorted(http) == sorted(sql)
}

fn first_difference(http: &Value, sql: &Value) -> String {
    match (http, sql) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let vb = b.get(k).unwrap_or(&Value::Null);
                if va != vb {
                    return format!("{k}: {}", first_difference(va, vb));
                }
            }
            "keys differ".to_owned()
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return format!("{} items over HTTP, {} in SQL", a.len(), b.len());
            }
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                if va != vb {
                    return format!("[{i}] {}", first_difference(va, vb));
                }
            }
            "arrays differ".to_owned()
        }
        _ => format!("HTTP {http} vs SQL {sql}"),
    }
}

/// Statements of single requests (fewest, most) over five of them.
async fn statements_of(
    http: &Http,
    token: &str,
    query: &str,
    variables: &Value,
) -> anyhow::Result<(u64, u64)> {
    let mut seen = Vec::new();
    for _ in 0..5 {
        let before = http.statements().await?;
        http.post(token, query, variables).await?;
        seen.push(http.statements().await? - before);
    }
    Ok((
        *seen.iter().min().unwrap_or(&0),
        *seen.iter().max().unwrap_or(&0),
    ))
}

/// A, B and the `myRole` lists: a page of datasets (or projects) and its count.
fn page_view(data: &Value, list: &str, with_files: bool) -> Value {
    let page = &data[list];
    let nodes: Vec<Value> = page["nodes"]
        .as_array()
        .map(|n| {
            n.iter()
                .map(|d| {
                    if with_files {
                        json!({
                            "id": local(&d["id"]),
                            "files": d["files"]["totalCount"],
                            "titles": d["files"]["nodes"].as_array().map(|f| f.iter().map(|x| x["title"].clone()).collect::<Vec<_>>()),
                        })
                    } else {
                        json!({ "id": local(&d["id"]) })
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "total": page["totalCount"], "nodes": nodes })
}

async fn rows(
    db: &DatabaseConnection,
    sql: &str,
    values: Vec<Sql>,
) -> anyhow::Result<(Duration, Vec<sea_orm::QueryResult>)> {
    let backend = db.get_database_backend();
    let stmt = statement(backend, sql, values);
    let started = Instant::now();
    let found = db.query_all_raw(stmt).await?;
    Ok((started.elapsed(), found))
}

fn sql_page_view(found: &[sea_orm::QueryResult], with_files: bool) -> anyhow::Result<Value> {
    let mut total = 0i64;
    let mut nodes: Vec<Value> = Vec::new();
    let mut last: Option<Uuid> = None;
    for row in found {
        let id: Uuid = row.try_get("", "id")?;
        total = row.try_get("", "total")?;
        if last != Some(id) {
            last = Some(id);
            if with_files {
                let n: Option<i64> = row.try_get("", "n")?;
                nodes.push(json!({ "id": id.to_string(), "files": n.unwrap_or(0), "titles": [] }));
            } else {
                nodes.push(json!({ "id": id.to_string() }));
            }
        }
        if with_files {
            if let Some(title) = row.try_get::<Option<String>>("", "file_title")? {
                if let Some(Value::Array(titles)) = nodes.last_mut().map(|n| &mut n["titles"]) {
                    titles.push(json!(title));
                }
            }
        }
    }
    Ok(json!({ "total": total, "nodes": nodes }))
}

/// One list operation (A, B, the `myRole` lists): HTTP and SQL, compared.
#[allow(clippy::too_many_arguments)]
async fn list_op(
    options: &Options,
    http: &Http,
    db: &DatabaseConnection,
    token: &str,
    query: &str,
    list: &str,
    sql: &str,
    user: Uuid,
    with_files: bool,
) -> anyhow::Result<Figures> {
    let mut figures = Figures {
        served: true,
        ..Figures::default()
    };
    let none = &json!({});
    let (_, data) = http.post(token, query, none).await?;
    let (_, found) = rows(db, sql, vec![user.into()]).await?;
    compare(
        &mut figures,
        &page_view(&data, list, with_files),
        &sql_page_view(&found, with_files)?,
    );
    figures.http = sample(options, |_| async move {
        Ok(http.post(token, query, none).await?.0)
    })
    .await?;
    figures.sql = sample(options, |_| async move {
        Ok(rows(db, sql, vec![user.into()]).await?.0)
    })
    .await?;
    figures.statements = Some(statements_of(http, token, query, none).await?);
    Ok(figures)
}

// ---- the run of one database ----------------------------------------------------

#[derive(Debug, Default)]
struct BackendReport {
    seeded_in: Option<Duration>,
    ops: BTreeMap<String, Figures>,
    /// Statements of A and B at page sizes 5 and 50: (A5, A50, B5, B50).
    page_size_statements: Option<(u64, u64, u64, u64)>,
    load: BTreeMap<String, Value>,
    /// `--instructions`: the server's instructions per request.
    instructions: BTreeMap<String, Value>,
    rss_kib: (u64, u64),
    a_light_at_scale_1: Option<Latency>,
    /// `{ __typename }` as the light user: a request through HTTP and the
    /// GraphQL layers that sends no statement, the floor under every
    /// operation's HTTP figure.
    http_floor: Option<Latency>,
}

async fn served_fields(http: &Http, token: &str) -> anyhow::Result<HashMap<String, Vec<String>>> {
    let (_, data) = http
        .post(
            token,
            "{ __type(name: \"Query\") { fields { name args { name } } } }",
            &json!({}),
        )
        .await?;
    let mut out = HashMap::new();
    for f in data["__type"]["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let args = f["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        out.insert(f["name"].as_str().unwrap_or_default().to_owned(), args);
    }
    Ok(out)
}

async fn run_backend(
    options: &Options,
    backend: Backend,
    workspace: &Workspace,
    shape: &Shape,
) -> anyhow::Result<BackendReport> {
    let mut report = BackendReport {
        seeded_in: workspace.seeded_in,
        ..BackendReport::default()
    };
    let server = Server::start(&workspace.url).await?;
    let http = Http::new(&server);
    let db = annograph::app::connect(&workspace.url, 4, Duration::from_secs(15)).await?;
    let policy = Policy::load(None).await?;
    let sqls = Sqls::new(&policy);
    let cast = cast(&db, &server, shape).await?;
    // Each user's first request provisions nothing new but warms the server.
    for token in [&cast.heavy_token, &cast.light_token, &cast.admin_token] {
        http.post(token, "{ me { id } }", &json!({})).await?;
    }
    eprintln!(
        "{}: server pid {}, measuring…",
        backend.name(),
        server.pid()
    );

    if options.instructions {
        server.stop().await?;
        let profiles = options.profiles.as_deref().map(|dir| (dir, backend));
        report.instructions = instructions(&workspace.url, &cast, profiles).await?;
        return Ok(report);
    }

    if options.load {
        report.load = load(options, backend, &server, &http, &cast).await?;
        report.rss_kib = server.rss();
        return Ok(report);
    }

    for (name, token, user, query, sql, files) in [
        ("A/heavy", &cast.heavy_token, cast.heavy, A, &sqls.a, false),
        ("A/light", &cast.light_token, cast.light, A, &sqls.a, false),
        ("B/heavy", &cast.heavy_token, cast.heavy, B, &sqls.b, true),
        ("B/light", &cast.light_token, cast.light, B, &sqls.b, true),
    ] {
        let figures = list_op(
            options, &http, &db, token, query, "datasets", sql, user, files,
        )
        .await
        .unwrap_or_else(failed);
        eprintln!("  {name:<24} {}", line(&figures));
        report.ops.insert(name.to_owned(), figures);
    }

    // What a request costs that sends no statement.
    let none = json!({});
    let floor = sample(options, |_| {
        let (http, token, none) = (&http, &cast.light_token, &none);
        async move { Ok(http.post(token, "{ __typename }", none).await?.0) }
    })
    .await?;
    eprintln!(
        "  {:<24} HTTP p50 {:>8.2} ms p99 {:>8.2} | no SQL: the floor under every HTTP figure",
        "{ __typename }", floor.p50, floor.p99
    );
    report.http_floor = Some(floor);

    // Statements do not depend on the page size.
    let a5 = statements_of(&http, &cast.heavy_token, A_FIRST_5, &none).await?;
    let b5 = statements_of(&http, &cast.heavy_token, B_FIRST_5, &none).await?;
    if let (Some(a50), Some(b50)) = (
        report.ops["A/heavy"].statements,
        report.ops["B/heavy"].statements,
    ) {
        report.page_size_statements = Some((a5.1, a50.1, b5.1, b50.1));
    }

    let figures = files_deep(options, &http, &db, &sqls, &cast)
        .await
        .unwrap_or_else(failed);
    eprintln!("  {:<24} {}", "files 100 pages", line(&figures));
    report.ops.insert("files 100 pages".to_owned(), figures);

    let figures = nested(options, &http, &db, &sqls, &cast)
        .await
        .unwrap_or_else(failed);
    eprintln!("  {:<24} {}", "nested project", line(&figures));
    report.ops.insert("nested project".to_owned(), figures);

    let figures = viewer_can(options, &http, &db, &sqls, &cast, &policy)
        .await
        .unwrap_or_else(failed);
    eprintln!("  {:<24} {}", "viewerCan 100 datasets", line(&figures));
    report
        .ops
        .insert("viewerCan 100 datasets".to_owned(), figures);

    let (grant, revoke) = grant_revoke(options, &http, &db, &sqls, &cast)
        .await
        .unwrap_or_else(|e| (failed(anyhow::anyhow!("{e:#}")), failed(e)));
    eprintln!("  {:<24} {}", "grant collaborator", line(&grant));
    eprintln!("  {:<24} {}", "revoke collaborator", line(&revoke));
    report.ops.insert("grant collaborator".to_owned(), grant);
    report.ops.insert("revoke collaborator".to_owned(), revoke);

    let figures = list_op(
        options,
        &http,
        &db,
        &cast.admin_token,
        SEARCH,
        "workspaceDatasets",
        &sqls.workspace_search,
        cast.admin,
        false,
    )
    .await
    .unwrap_or_else(failed);
    eprintln!("  {:<24} {}", "workspaceDatasets search", line(&figures));
    report
        .ops
        .insert("workspaceDatasets search".to_owned(), figures);

    // Filters on the caller's role, when this server has them.
    let fields = served_fields(&http, &cast.heavy_token).await?;
    let has = |field: &str, arg: &str| {
        fields
            .get(field)
            .is_some_and(|a| a.iter().any(|x| x == arg))
    };
    for (name, token, user, query, list, sql, served) in [
        (
            "projects myRole ADMIN",
            &cast.heavy_token,
            cast.heavy,
            MY_PROJECTS_ADMIN,
            "projects",
            &sqls.my_projects_admin,
            has("projects", "myRole"),
        ),
        (
            "datasets myRole ADMIN,USER",
            &cast.heavy_token,
            cast.heavy,
            MY_DATASETS_ROLES,
            "datasets",
            &sqls.my_datasets_roles,
            has("datasets", "myRole"),
        ),
        (
            "workspaceDatasets joined:false",
            &cast.admin_token,
            cast.admin,
            NOT_JOINED,
            "workspaceDatasets",
            &sqls.workspace_not_joined,
            has("workspaceDatasets", "joined"),
        ),
    ] {
        let figures = if served {
            list_op(options, &http, &db, token, query, list, sql, user, false)
                .await
                .unwrap_or_else(failed)
        } else {
            Figures::default()
        };
        eprintln!("  {name:<24} {}", line(&figures));
        report.ops.insert(name.to_owned(), figures);
    }
    report.rss_kib = server.rss();
    Ok(report)
}

fn line(f: &Figures) -> String {
    if !f.served {
        return "not served".to_owned();
    }
    if let Some(error) = &f.error {
        return format!("FAILED: {error}");
    }
    format!(
        "HTTP p50 {:>8.2} ms p99 {:>8.2} | SQL p50 {:>7.2} ms p99 {:>7.2} | ratio {:>6.1}× / {:>6.1}× | {} | stmts {}",
        f.http.p50,
        f.http.p99,
        f.sql.p50,
        f.sql.p99,
        f.http.p50 / f.sql.p50,
        f.http.p99 / f.sql.p99,
        match f.agree {
            Some(true) => "same rows".to_owned(),
            Some(false) => format!("DIFFER: {}", f.difference.clone().unwrap_or_default()),
            None => "unchecked".to_owned(),
        },
        f.statements
            .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}–{b}") })
            .unwrap_or_else(|| "–".to_owned()),
    )
}

/// A dataset's files, 100 pages of 50 deep, page after page (one sample a
/// page; after the last page of the dataset, from its first page again).
async fn files_deep(
    options: &Options,
    http: &Http,
    db: &DatabaseConnection,
    sqls: &Sqls,
    cast: &Cast,
) -> anyhow::Result<Figures> {
    const PAGES: usize = 100;
    let mut figures = Figures {
        served: true,
        ..Figures::default()
    };
    let dataset = &global("Dataset", cast.big_dataset);
    // One page over HTTP: its ids and the cursor of the next one.
    let http_page = |after: Value| async move {
        let (took, data) = http
            .post(
                &cast.heavy_token,
                FILES_PAGE,
                &json!({ "id": dataset, "after": after }),
            )
            .await?;
        let files = &data["dataset"]["files"];
        let ids: Vec<String> = files["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|n| local(&n["id"]))
            .collect();
        let next = match files["pageInfo"]["hasNextPage"].as_bool() {
            Some(true) => files["pageInfo"]["endCursor"].clone(),
            _ => Value::Null,
        };
        anyhow::Ok((took, ids, next))
    };
    // The same page in SQL: 51 rows tell whether another page follows.
    let sql_page = |after: Uuid| async move {
        let (took, found) = rows(
            db,
            &sqls.files_page,
            vec![cast.big_dataset.into(), after.into()],
        )
        .await?;
        let mut ids: Vec<Uuid> = found
            .iter()
            .map(|r| r.try_get("", "id"))
            .collect::<Result<_, _>>()?;
        let more = ids.len() > 50;
        ids.truncate(50);
        let next = if more { ids[49] } else { Uuid::nil() };
        anyhow::Ok((took, ids, next))
    };
    let mut http_pages: Vec<Vec<String>> = Vec::new();
    let mut sql_pages: Vec<Vec<String>> = Vec::new();
    let (mut cursor, mut last) = (Value::Null, Uuid::nil());
    for _ in 0..PAGES {
        let (_, ids, next) = http_page(cursor).await?;
        http_pages.push(ids);
        cursor = next;
        let (_, ids, next) = sql_page(last).await?;
        sql_pages.push(ids.iter().map(Uuid::to_string).collect());
        last = next;
    }
    compare(&mut figures, &json!(http_pages), &json!(sql_pages));
    let http_at = &std::sync::Mutex::new((0usize, Value::Null));
    figures.http = sample(options, |_| async move {
        let (page, after) = http_at.lock().map(|g| g.clone()).unwrap_or_default();
        let after = if page % PAGES == 0 {
            Value::Null
        } else {
            after
        };
        let (took, _, next) = http_page(after).await?;
        if let Ok(mut g) = http_at.lock() {
            *g = (page + 1, next);
        }
        Ok(took)
    })
    .await?;
    let sql_at = &std::sync::Mutex::new((0usize, Uuid::nil()));
    figures.sql = sample(options, |_| async move {
        let (page, after) = sql_at.lock().map(|g| *g).unwrap_or_default();
        let after = if page % PAGES == 0 {
            Uuid::nil()
        } else {
            after
        };
        let (took, _, next) = sql_page(after).await?;
        if let Ok(mut g) = sql_at.lock() {
            *g = (page + 1, next);
        }
        Ok(took)
    })
    .await?;
    figures.statements = Some(
        statements_of(
            http,
            &cast.heavy_token,
            FILES_PAGE,
            &json!({ "id": dataset, "after": Value::Null }),
        )
        .await?,
    );
    Ok(figures)
}

/// The project, its ontology and collaborators, its datasets and their first
/// 20 files with their folders.
async fn nested(
    options: &Options,
    http: &Http,
    db: &DatabaseConnection,
    sqls: &Sqls,
    cast: &Cast,
) -> anyhow::Result<Figures> {
    let mut figures = Figures {
        served: true,
        ..Figures::default()
    };
    let vars = &json!({ "id": global("Project", cast.heavy_project) });
    let (_, data) = http.post(&cast.heavy_token, NESTED, vars).await?;
    let p = &data["project"];
    let http_view = json!({
        "ontology": local(&p["ontology"]["id"]),
        "collaborators": p["collaborators"].as_array().cloned().unwrap_or_default().iter().map(|c| {
            json!([c["role"], c["user"]["id"].as_str().map(|_| local(&c["user"]["id"])), c["group"]["id"].as_str().map(|_| local(&c["group"]["id"]))])
        }).collect::<Vec<_>>(),
        "datasets": p["datasets"].as_array().cloned().unwrap_or_default().iter().map(|d| json!({
            "id": local(&d["id"]),
            "files": d["files"]["totalCount"],
            "first": d["files"]["nodes"].as_array().cloned().unwrap_or_default().iter().map(|f| json!([local(&f["id"]), f["folder"]["id"].as_str().map(|_| local(&f["folder"]["id"]))])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let run = move || async move {
        let started = Instant::now();
        let head = db
            .query_all_raw(statement(
                db.get_database_backend(),
                &sqls.project_head,
                vec![cast.heavy_project.into()],
            ))
            .await?;
        let collaborators = db
            .query_all_raw(statement(
                db.get_database_backend(),
                &sqls.project_collaborators,
                vec![cast.heavy_project.into()],
            ))
            .await?;
        let datasets = db
            .query_all_raw(statement(
                db.get_database_backend(),
                &sqls.project_datasets,
                vec![cast.heavy.into(), cast.heavy_project.into()],
            ))
            .await?;
        anyhow::Ok((started.elapsed(), head, collaborators, datasets))
    };
    let (_, head, collaborators, datasets) = run().await?;
    let mut ds: Vec<Value> = Vec::new();
    let mut last = None;
    for row in &datasets {
        let id: Uuid = row.try_get("", "id")?;
        if last != Some(id) {
            last = Some(id);
            let n: Option<i64> = row.try_get("", "n")?;
            ds.push(json!({ "id": id.to_string(), "files": n.unwrap_or(0), "first": [] }));
        }
        if let Some(file) = row.try_get::<Option<Uuid>>("", "file_id")? {
            let folder: Option<Uuid> = row.try_get("", "folder_id")?;
            if let Some(Value::Array(first)) = ds.last_mut().map(|d| &mut d["first"]) {
                first.push(json!([file.to_string(), folder.map(|f| f.to_string())]));
            }
        }
    }
    let sql_view = json!({
        "ontology": head.first().map(|r| r.try_get::<Uuid>("", "ontology_id")).transpose()?.map(|u| u.to_string()),
        "collaborators": collaborators.iter().map(|r| -> anyhow::Result<Value> {
            Ok(json!([
                r.try_get::<String>("", "role")?,
                r.try_get::<Option<Uuid>>("", "user_id")?.map(|u| u.to_string()),
                r.try_get::<Option<Uuid>>("", "group_id")?.map(|u| u.to_string()),
            ]))
        }).collect::<anyhow::Result<Vec<_>>>()?,
        "datasets": ds,
    });
    compare(&mut figures, &http_view, &sql_view);
    figures.http = sample(options, |_| async move {
        Ok(http.post(&cast.heavy_token, NESTED, vars).await?.0)
    })
    .await?;
    figures.sql = sample(options, |_| async move { Ok(run().await?.0) }).await?;
    figures.statements = Some(statements_of(http, &cast.heavy_token, NESTED, vars).await?);
    Ok(figures)
}

/// `viewerCan` of the first 100 datasets the heavy user sees.
async fn viewer_can(
    options: &Options,
    http: &Http,
    db: &DatabaseConnection,
    sqls: &Sqls,
    cast: &Cast,
    policy: &Policy,
) -> anyhow::Result<Figures> {
    let mut figures = Figures {
        served: true,
        ..Figures::default()
    };
    let none = &json!({});
    let (_, data) = http.post(&cast.heavy_token, VIEWER_CAN, none).await?;
    let http_view: Vec<Value> = data["datasets"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| json!([local(&d["id"]), d["viewerCan"]]))
        .collect();
    let (_, found) = rows(db, &sqls.viewer_can, vec![cast.heavy.into()]).await?;
    let mut roles: Vec<(Uuid, Vec<Role>)> = Vec::new();
    for row in &found {
        let id: Uuid = row.try_get("", "id")?;
        let role: Option<Role> = row.try_get("", "role")?;
        if roles.last().map(|(d, _)| *d) != Some(id) {
            roles.push((id, Vec::new()));
        }
        if let (Some(role), Some((_, held))) = (role, roles.last_mut()) {
            held.push(role);
        }
    }
    let sql_view: Vec<Value> = roles
        .iter()
        .map(|(id, held)| {
            let can = |a| policy.any_allows(Kind::Dataset, held, a);
            json!([id.to_string(), {
                "view": true,
                "addData": can(Action::AddData),
                "adjustSettings": can(Action::AdjustSettings),
                "delete": can(Action::Delete),
                "attachToProject": can(Action::AttachToProject),
            }])
        })
        .collect();
    compare(&mut figures, &json!(http_view), &json!(sql_view));
    figures.http = sample(options, |_| async move {
        Ok(http.post(&cast.heavy_token, VIEWER_CAN, none).await?.0)
    })
    .await?;
    figures.sql = sample(options, |_| async move {
        Ok(rows(db, &sqls.viewer_can, vec![cast.heavy.into()]).await?.0)
    })
    .await?;
    figures.statements = Some(statements_of(http, &cast.heavy_token, VIEWER_CAN, none).await?);
    Ok(figures)
}

/// The heavy user shares their big dataset with the light user and takes
/// it back (each sample a pair; the workspace is as it was after).
async fn grant_revoke(
    options: &Options,
    http: &Http,
    db: &DatabaseConnection,
    sqls: &Sqls,
    cast: &Cast,
) -> anyhow::Result<(Figures, Figures)> {
    let backend = db.get_database_backend();
    let vars =
        &json!({ "d": global("Dataset", cast.big_dataset), "u": global("User", cast.light) });
    let held = || async move {
        let found = db
            .query_all_raw(statement(
                backend,
                "SELECT role FROM role_grants WHERE resource_type = 'dataset' AND resource_id = $1 AND user_id = $2",
                vec![cast.big_dataset.into(), cast.light.into()],
            ))
            .await?;
        anyhow::Ok(
            found
                .iter()
                .map(|r| r.try_get::<String>("", "role"))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let mut grant = Figures {
        served: true,
        ..Figures::default()
    };
    let mut revoke = Figures {
        served: true,
        ..Figures::default()
    };
    http.post(&cast.heavy_token, GRANT, vars).await?;
    let after_grant = held().await?;
    http.post(&cast.heavy_token, REVOKE, vars).await?;
    let after_revoke = held().await?;
    compare(&mut grant, &json!(after_grant), &json!(["USER"]));
    compare(&mut revoke, &json!(after_revoke), &json!([]));
    let revoke_times = &std::sync::Mutex::new(Vec::new());
    grant.http = sample(options, |_| async move {
        let (took, _) = http.post(&cast.heavy_token, GRANT, vars).await?;
        let (back, _) = http.post(&cast.heavy_token, REVOKE, vars).await?;
        if let Ok(mut t) = revoke_times.lock() {
            t.push(back);
        }
        Ok(took)
    })
    .await?;
    let times = revoke_times.lock().map(|t| t.clone()).unwrap_or_default();
    revoke.http = summarize(&[times[WARMUP.min(times.len())..].to_vec()]);
    let revoke_sql = &std::sync::Mutex::new(Vec::new());
    grant.sql = sample(options, |_| async move {
        let started = Instant::now();
        let txn = annograph::service::tx::write(db).await?;
        txn.execute_raw(statement(
            backend,
            &sqls.grant_insert,
            vec![
                Uuid::now_v7().into(),
                cast.big_dataset.into(),
                cast.light.into(),
                cast.heavy.into(),
                chrono::Utc::now().into(),
            ],
        ))
        .await?;
        txn.commit().await?;
        let took = started.elapsed();
        let started = Instant::now();
        db.execute_raw(statement(
            backend,
            &sqls.grant_delete,
            vec![cast.big_dataset.into(), cast.light.into()],
        ))
        .await?;
        if let Ok(mut t) = revoke_sql.lock() {
            t.push(started.elapsed());
        }
        Ok(took)
    })
    .await?;
    let times = revoke_sql.lock().map(|t| t.clone()).unwrap_or_default();
    revoke.sql = summarize(&[times[WARMUP.min(times.len())..].to_vec()]);
    grant.statements = Some(statements_of_pair(http, &cast.heavy_token, vars, true).await?);
    revoke.statements = Some(statements_of_pair(http, &cast.heavy_token, vars, false).await?);
    Ok((grant, revoke))
}

/// Statements of the grant (or of the revoke) of five grant/revoke pairs.
async fn statements_of_pair(
    http: &Http,
    token: &str,
    vars: &Value,
    of_grant: bool,
) -> anyhow::Result<(u64, u64)> {
    let mut seen = Vec::new();
    for _ in 0..5 {
        let before = http.statements().await?;
        http.post(token, GRANT, vars).await?;
        let middle = http.statements().await?;
        http.post(token, REVOKE, vars).await?;
        let after = http.statements().await?;
        seen.push(if of_grant {
            middle - before
        } else {
            after - middle
        });
    }
    Ok((
        *seen.iter().min().unwrap_or(&0),
        *seen.iter().max().unwrap_or(&0),
    ))
}

// ---- instructions ----------------------------------------------------------

/// A and B for the heavy and the light user: (name, token, query).
fn a_and_b(cast: &Cast) -> [(&'static str, &str, &'static str); 4] {
    [
        ("A/heavy", &cast.heavy_token, A),
        ("A/light", &cast.light_token, A),
        ("B/heavy", &cast.heavy_token, B),
        ("B/light", &cast.light_token, B),
    ]
}

/// Requests of each query counted, after a few that warm the server.
const COUNTED: u64 = 50;

/// The instructions the server runs per request of A and B for both users,
/// counted by callgrind over [`COUNTED`] sequential requests: the same from
/// run to run whatever else the machine does, where times on a shared
/// machine vary by half. The server runs some 50 times slower under it.
/// With `profiles`, each query's profile is kept in that directory.
async fn instructions(
    url: &str,
    cast: &Cast,
    profiles: Option<(&Path, Backend)>,
) -> anyhow::Result<BTreeMap<String, Value>> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        bail!("--instructions needs valgrind (apt install valgrind)");
    }
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("callgrind.out");
    let out_file = format!("--callgrind-out-file={}", out.display());
    let launch = Launch {
        env: &[("ANNOGRAPH_IMPORT_JOBS", "0")],
        without_shell_settings: false,
        log_to_file: true,
        ready_within: Duration::from_secs(600),
        wrapper: &["valgrind", "--tool=callgrind", &out_file],
    };
    let server = Server::launch(url, &launch).await?;
    let http = Http::new(&server);
    let pid = server.pid().to_string();
    let control = |what: &str| -> anyhow::Result<()> {
        let status = Command::new("callgrind_control")
            .args([what, &pid])
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "callgrind_control {what} failed");
        Ok(())
    };
    let mut figures = BTreeMap::new();
    for (name, token, query) in a_and_b(cast) {
        for _ in 0..5 {
            http.post(token, query, &json!({})).await?;
        }
        control("-z")?;
        for _ in 0..COUNTED {
            http.post(token, query, &json!({})).await?;
        }
        control("-d")?;
        let (dump, total) = last_dump(dir.path())?;
        if let Some((keep, backend)) = profiles {
            std::fs::create_dir_all(keep)?;
            let name = format!("{}-{}.callgrind", backend.name(), name.replace('/', "-"));
            std::fs::copy(&dump, keep.join(name))?;
        }
        let per_request = total / COUNTED;
        eprintln!(
            "  instructions {name:<8} {per_request:>12} per request (server, {COUNTED} requests)"
        );
        figures.insert(
            name.to_owned(),
            json!({ "instructions_per_request": per_request, "requests": COUNTED }),
        );
    }
    server.stop().await?;
    Ok(figures)
}

/// Callgrind's newest dump in `dir`, and the instructions it counted.
fn last_dump(dir: &Path) -> anyhow::Result<(PathBuf, u64)> {
    let newest = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let n: u64 = name.strip_prefix("callgrind.out.")?.parse().ok()?;
            Some((n, entry.path()))
        })
        .max()
        .context("callgrind wrote no dump")?
        .1;
    let total = std::fs::read_to_string(&newest)?
        .lines()
        .find_map(|line| line.strip_prefix("summary:"))
        .context("a callgrind dump without a summary")?
        .trim()
        .parse()
        .context("the summary of a callgrind dump")?;
    Ok((newest, total))
}

// ---- load ------------------------------------------------------------------

/// A and B for both users, each by `connections` clients at once for `seconds`.
async fn load(
    options: &Options,
    backend: Backend,
    server: &Server,
    http: &Http,
    cast: &Cast,
) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for (name, token, query) in a_and_b(cast) {
        let deadline = Instant::now() + Duration::from_secs(options.seconds);
        let cpu_before = server.cpu();
        let client_before = cpu_seconds(std::process::id());
        let database_before = postgres_cpu_seconds();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..options.connections {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(60))
                .build()?;
            let url = http.url.clone();
            let body = Arc::new(serde_json::to_vec(&json!({ "query": query }))?);
            let token = token.to_owned();
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = match client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await
                    {
                        Ok(r) => {
                            r.status().is_success()
                                && r.bytes()
                                    .await
                                    .map(|b| !b.starts_with(b"{\"errors"))
                                    .unwrap_or(false)
                        }
                        Err(_) => false,
                    };
                    if ok {
                        times.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (times, errors)
            }));
        }
        let mut times = Vec::new();
        let mut errors = 0;
        for task in tasks {
            let (t, e) = task.await?;
            times.extend(t);
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cores = (server.cpu() - cpu_before) / elapsed;
        let client_cores = (cpu_seconds(std::process::id()) - client_before) / elapsed;
        // PostgreSQL's processes run beside (SQLite runs inside the server).
        let database_cores = match backend {
            Backend::Postgres => Some((postgres_cpu_seconds() - database_before) / elapsed),
            Backend::Sqlite => None,
        };
        let latency = summarize(&[times.clone()]);
        let rps = times.len() as f64 / elapsed;
        let (rss, peak) = server.rss();
        eprintln!(
            "  load {name:<8} {:>8.1} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  errors {errors}  server {:.2} cores{}, RSS {} MiB (peak {} MiB), clients {:.2} cores",
            rps,
            latency.p50,
            latency.p99,
            cores,
            database_cores.map_or(String::new(), |c| format!(", PostgreSQL {c:.2} cores")),
            rss / 1024,
            peak / 1024,
            client_cores
        );
        out.insert(
            name.to_owned(),
            json!({
                "connections": options.connections,
                "seconds": options.seconds,
                "requests_per_second": round(rps),
                "p50_ms": round(latency.p50),
                "p99_ms": round(latency.p99),
                "errors": errors,
                "server_cores": round(cores),
                "client_cores": round(client_cores),
                "database_cores": database_cores.map(round),
                "server_rss_kib": rss,
                "server_peak_rss_kib": peak,
            }),
        );
    }
    Ok(out)
}

// ---- the whole run -------------------------------------------------------------

async fn bench(options: Options) -> anyhow::Result<()> {
    let shape = options.shape(options.scale);
    let mut reports: BTreeMap<&'static str, BackendReport> = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let wanted = match backend {
            Backend::Sqlite => options.sqlite,
            Backend::Postgres => options.postgres,
        };
        if !wanted {
            continue;
        }
        let prepare = |shape: Shape| {
            let options = options.clone();
            async move {
                match backend {
                    Backend::Sqlite => sqlite_workspace(&shape).await,
                    Backend::Postgres => postgres_workspace(&options.pg_url, &shape).await,
                }
            }
        };
        let workspace = match prepare(shape.clone()).await {
            Ok(w) => w,
            Err(e) if backend == Backend::Postgres => {
                let note = format!(
                    "PostgreSQL skipped: {} is unreachable or refused ({e:#})",
                    redact(&options.pg_url)
                );
                eprintln!("{note}");
                notes.push(note);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut report = run_backend(&options, backend, &workspace, &shape).await?;
        if options.scale != 1 && !options.load && !options.instructions {
            // A / light on the workspace of scale 1, for the ratio.
            let base = options.shape(1);
            let small = prepare(base.clone()).await?;
            let server = Server::start(&small.url).await?;
            let http = Http::new(&server);
            let token = server.token(&base.light_user)?;
            http.post(&token, "{ me { id } }", &json!({})).await?;
            let none = &json!({});
            let (http, token) = (&http, &token);
            report.a_light_at_scale_1 = Some(
                sample(&options, |_| async move {
                    Ok(http.post(token, A, none).await?.0)
                })
                .await?,
            );
        }
        reports.insert(backend.name(), report);
    }
    print_report(&options, &shape, &reports, &notes);
    Ok(())
}

fn print_report(
    options: &Options,
    shape: &Shape,
    reports: &BTreeMap<&'static str, BackendReport>,
    notes: &[String],
) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!();
    println!(
        "== annograph API benchmark == {} cores, scale {}, shape {shape:?}",
        cores, options.scale
    );
    let mut backends = serde_json::Map::new();
    let mut targets: Vec<Value> = Vec::new();
    for (name, report) in reports {
        println!(
            "-- {name} (seeded {})",
            report
                .seeded_in
                .map(|d| format!("in {:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "before: reused".into())
        );
        let mut ops = serde_json::Map::new();
        for (op, figures) in &report.ops {
            println!("  {op:<32} {}", line(figures));
            ops.insert(op.clone(), figures.json());
        }
        for (op, l) in &report.load {
            println!("  load {op:<27} {l}");
        }
        for (op, i) in &report.instructions {
            println!("  instructions {op:<19} {i}");
        }
        backends.insert(
            (*name).to_owned(),
            json!({
                "seed_seconds": report.seeded_in.map(|d| round(d.as_secs_f64())),
                "ops": ops,
                "load": report.load,
                "instructions": report.instructions,
                "page_size_statements": report.page_size_statements.map(|(a5, a50, b5, b50)| json!({ "A_first_5": a5, "A_first_50": a50, "B_first_5": b5, "B_first_50": b50 })),
                "server_rss_kib": report.rss_kib.0,
                "server_peak_rss_kib": report.rss_kib.1,
                "a_light_p50_ms_at_scale_1": report.a_light_at_scale_1.map(|l| round(l.p50)),
                "http_floor_p50_ms": report.http_floor.map(|l| round(l.p50)),
                "http_floor_p99_ms": report.http_floor.map(|l| round(l.p99)),
            }),
        );
        // A and B against the hand-written SQL.
        if !options.load && !options.instructions {
            for op in ["A/heavy", "A/light", "B/heavy", "B/light"] {
                if let Some(f) = report.ops.get(op) {
                    let p50 = f.http.p50 / f.sql.p50;
                    let p99 = f.http.p99 / f.sql.p99;
                    targets.push(json!({
                        "target": format!("{name} {op}: p50 ≤ 1.5× SQL, p99 ≤ 2× SQL, same rows"),
                        "value": { "ratio_p50": round(p50), "ratio_p99": round(p99), "agree": f.agree },
                        "met": p50 <= 1.5 && p99 <= 2.0 && f.agree == Some(true),
                    }));
                }
            }
            if *name == "sqlite" {
                if let Some(f) = report.ops.get("A/light") {
                    targets.push(json!({
                        "target": "sqlite A/light p50 < 1 ms",
                        "value": round(f.http.p50),
                        "met": f.http.p50 < 1.0,
                    }));
                }
            }
            let stable = report
                .ops
                .values()
                .filter(|f| f.served)
                .all(|f| f.statements.is_some_and(|(a, b)| a == b));
            let by_size = report
                .page_size_statements
                .is_some_and(|(a5, a50, b5, b50)| a5 == a50 && b5 == b50);
            targets.push(json!({
                "target": format!("{name}: SQL statements per operation identical on every run and page size"),
                "value": report.page_size_statements.map(|(a5, a50, b5, b50)| json!([a5, a50, b5, b50])),
                "met": stable && by_size,
            }));
            let scale_target = format!("{name}: A/light at 5× within 1.2× of 1×");
            match report.a_light_at_scale_1 {
                Some(base) if options.scale == 5 => {
                    let at5 = report.ops.get("A/light").map(|f| f.http.p50).unwrap_or(f64::NAN);
                    targets.push(json!({ "target": scale_target, "value": round(at5 / base.p50), "met": at5 / base.p50 <= 1.2 }));
                }
                _ => targets.push(json!({ "target": scale_target, "value": null, "met": false, "note": "run with --scale 5" })),
            }
        }
    }
    // Load on PostgreSQL with 16 connections.
    for (op, floor) in [
        ("A/heavy", 400.0),
        ("A/light", 2500.0),
        ("B/heavy", 140.0),
        ("B/light", 350.0),
    ] {
        let measured = reports
            .get("postgres")
            .and_then(|r| r.load.get(op))
            .cloned();
        let target = format!("postgres load, 16 connections: {op} ≥ {floor} req/s");
        match measured {
            Some(l) if options.connections == 16 => {
                let rps = l["requests_per_second"].as_f64().unwrap_or(0.0);
                targets.push(json!({ "target": target, "value": rps, "met": rps >= floor }));
            }
            Some(l) => targets.push(json!({ "target": target, "value": l["requests_per_second"], "met": false, "note": format!("measured with {} connections", options.connections) })),
            None => targets.push(json!({ "target": target, "value": null, "met": false, "note": "run with --load --connections 16" })),
        }
    }
    let report = json!({
        "benchmark": "api",
        "date": chrono::Utc::now().to_rfc3339(),
        "cores": cores,
        "scale": options.scale,
        "shape": { "users": shape.users, "groups": shape.groups, "datasets": shape.datasets, "files": shape.files, "projects": shape.projects, "seed": shape.seed },
        "samples": options.samples,
        "runs": options.runs,
        "mode": if options.load { "load" } else if options.instructions { "instructions" } else { "latency" },
        "backends": backends,
        "targets": targets,
        "notes": notes,
    });
    println!("{report}");
}
