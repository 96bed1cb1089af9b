//! Building and running the server: what `main` and the tests start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::auth::Authenticator;
use crate::config::Config;
use crate::events::EventBus;
use crate::graphql::build_schema;
use crate::http::connections::{self, Shutdown};
use crate::http::rate_limit::RateLimiter;
use crate::http::{router, AppState};
use crate::import::manifest::ManifestLimits;
use crate::import::queue::Workers;
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::service::Services;

/// A PostgreSQL URL naming this machine (`localhost`, `127.0.0.0/8`, `::1`)
/// without an `sslmode` (nor a `host` or `hostaddr` parameter, which may
/// name another) gets `sslmode=disable`; any other URL is kept as written.
///
/// sqlx, like libpq, uses TLS whenever the server offers it (`prefer`, and
/// Debian's PostgreSQL offers it). Between two processes of one machine it
/// protects nothing, and it costs both sides on every statement: ~4 % of
/// the server's instructions for "my datasets", and PostgreSQL's share,
/// which took A / light under load from 2,240–2,310 to 2,410–2,580
/// requests/s. An operator who wants TLS there (a `hostssl` rule) says so in
/// the URL.
pub fn without_tls_on_loopback(database_url: &str) -> std::borrow::Cow<'_, str> {
    let Ok(url) = url::Url::parse(database_url) else {
        return database_url.into();
    };
    let postgres = matches!(url.scheme(), "postgres" | "postgresql");
    let loopback = match url.host() {
        // For a scheme the URL standard does not know, an IPv4 address is
        // a name.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let chosen = url
        .query_pairs()
        .any(|(key, _)| matches!(&*key, "sslmode" | "ssl-mode" | "host" | "hostaddr"));
    if !postgres || !loopback || chosen || url.fragment().is_some() {
        return database_url.into();
    }
    let separator = if url.query().is_some() { '&' } else { '?' };
    format!("{database_url}{separator}sslmode=disable").into()
}

/// The URL of the database `name` on the server that `server_url` names,
/// with the same user and settings (`?sslmode=…`): where the tests and
/// benchmarks create their databases.
pub fn database_url_named(server_url: &str, name: &str) -> String {
    let (address, settings) = match server_url.split_once('?') {
        Some((address, settings)) => (address, format!("?{settings}")),
        None => (server_url, String::new()),
    };
    let base = address.rsplit_once('/').map_or(address, |(base, _)| base);
    format!("{base}/{name}{settings}")
}

/// Opens the database pool (statement logging off: it would log every query).
pub async fn connect(
    database_url: &str,
    max_connections: u32,
    busy_timeout: Duration,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(without_tls_on_loopback(database_url).into_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        // Writers queued for SQLite's write lock hold pooled connections: a
        // request waits for a connection as long as a writer waits for the lock.
        .acquire_timeout(busy_timeout.max(Duration::from_secs(10)))
        .sqlx_logging(false)
        // SQLite: readers go on while a writer (an import checkpoint, a
        // mutation) commits, and a writer waits its turn rather than fail.
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy_timeout)
        })
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(stable_sqlite_plans(conn)))
        });
    Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact(database_url)))
}

/// Keeps each prepared SQLite statement's plan independent of the values
/// bound to it (SQLite's "query planner stability guarantee").
///
/// Without it, SQLite reads a bound `LIMIT` and, with the samples `ANALYZE`
/// gathers, any bound value compared to an indexed column while planning,
/// and marks the statement to be planned again whenever those bindings
/// change: every page, caller lookup and visibility filter would be parsed
/// and planned anew on each request (about a fifth of a light request's
/// instructions), although its plan never depends on the user or the page
/// size. With it, the cached statement is reused as prepared; plans still
/// follow the statistics of the tables.
async fn stable_sqlite_plans(
    conn: &mut sea_orm::sqlx::SqliteConnection,
) -> sea_orm::sqlx::Result<()> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the open connection's handle, held locked for the
    // call; SQLITE_DBCONFIG_ENABLE_QPSG takes an int and an optional int
    // pointer for the previous setting (null: not wanted).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLite refused SQLITE_DBCONFIG_ENABLE_QPSG (code {rc})").into(),
        ));
    }
    Ok(())
}

/// Applies pending migrations, then brings SQLite's planner statistics up
/// to date.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("migrating the database")?;
    refresh_statistics(db).await
}

/// SQLite picks its plans (which index drives a visibility filter, whether
/// to walk a list in index order) from statistics gathered by `ANALYZE`;
/// without them, or with those of a much smaller database, it may scan a
/// whole table where an index range would do. `PRAGMA optimize` re-analyzes
/// the tables that changed enough since (all of them, the first time), each
/// from a bounded sample so that it stays quick on large files. Run at start,
/// after a seed, and after each import. PostgreSQL keeps its own statistics
/// (autovacuum); nothing to do there.
pub async fn refresh_statistics(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    // One string: the limit holds for the connection that runs the pragma.
    db.execute_unprepared("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;")
        .await
        .context("refreshing SQLite statistics")?;
    Ok(())
}

/// A URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A built server: its router and the parts tests and commands reuse.
pub struct App {
    pub router: Router,
    pub state: AppState,
    /// This instance's import workers (none with `--import-jobs 0`).
    pub workers: Option<Workers>,
    /// With `--demo`: the sample workspace and its ADMIN's token.
    pub demo: Option<crate::demo::DemoAccess>,
}

/// Connects, migrates, loads the policy and builds the router.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    // The demo hands an ADMIN token to whoever opens the playground.
    if config.demo && !config.listen.ip().is_loopback() && !config.demo_allow_remote {
        anyhow::bail!(
            "--demo gives a workspace ADMIN token to anyone who opens the playground; \
             listen on a loopback address ({}) or add --demo-allow-remote",
            crate::config::DEFAULT_LISTEN
        );
    }
    let mut db = connect(
        &config.database_url,
        config.db_max_connections,
        config.db_busy_timeout,
    )
    .await?;
    let metrics = Arc::new(Metrics::default());
    let counter = metrics.clone();
    db.set_metric_callback(move |_| counter.record_statement());
    migrate(&db).await?;
    let policy = Policy::load(config.policy_dir.as_deref())
        .await
        .context("loading the policy")?;
    let mut auth = Authenticator::new(&config.auth).context("configuring authentication")?;
    if config.demo {
        auth = auth.with_demo_key()?;
    }
    auth.start().await.context("configuring authentication")?;
    let events = match db.get_database_backend() {
        DbBackend::Postgres => EventBus::relayed_through_postgres(&db)
            .await
            .context("listening for events of other instances")?,
        _ => EventBus::new(),
    };
    let mut services = Services::new(db, policy, metrics, events);
    services.manifest_limits = ManifestLimits {
        max_entries: config.import.max_entries,
        max_bytes: config.max_upload_bytes as u64,
        ..ManifestLimits::default()
    };
    // Where LOCAL integrations may point.
    services.storage.set_local_roots(config.local_roots.clone());
    // Which internal addresses integrations may reach.
    services
        .storage
        .set_allowed_hosts(config.storage_allowed_hosts.clone());
    let workers = Workers::start(services.clone(), config.import);
    let state = AppState {
        schema: build_schema(Some(services.clone()), &config.query),
        services,
        auth: Arc::new(auth),
        limits: crate::http::HttpLimits::from(config),
        persisted: Arc::new(crate::http::apq::PersistedQueries::new(
            config.query.persisted_queries,
        )),
        rate: Arc::new(RateLimiter::new(config.connections.rate())),
        shutdown: Shutdown::default(),
    };
    let routes = router(state.clone()).layer(axum::middleware::from_fn_with_state(
        config.connections.body_timeout,
        connections::body_deadline,
    ));
    let mut router = crate::http::observability::layer(
        routes,
        &config.cors_origins,
        state.services.metrics.clone(),
    )?;
    let demo = match config.demo {
        true => {
            let access = crate::demo::access(&state.services, &state.auth).await?;
            router = router.layer(axum::Extension(crate::playground::DefaultHeaders::bearer(
                &access.token,
            )));
            Some(access)
        }
        false => None,
    };
    Ok(App {
        router,
        state,
        workers,
        demo,
    })
}

/// A server listening in the background (tests, embedding).
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    stopped: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops the server as SIGTERM does: waits for open requests up to the
    /// shutdown timeout, then drops what is left and hands import jobs back.
    pub async fn stop(self) {
        self.state.shutdown.begin();
        let _ = self.stopped.await;
    }
}

/// Builds the app and serves it on `config.listen` in a background task.
pub async fn spawn(config: &Config) -> anyhow::Result<RunningServer> {
    let app = build(config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let state = app.state.clone();
    let settings = config.connections;
    let stopped = tokio::spawn(run(app, listener, settings));
    Ok(RunningServer {
        addr,
        state,
        stopped,
    })
}

/// Serves until Ctrl-C / SIGTERM.
pub async fn serve(app: App, config: &Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "annograph listening");
    let shutdown = app.state.shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        shutdown.begin();
    });
    run(app, listener, config.connections).await;
    Ok(())
}

/// Serves connections until the shutdown has begun and they have closed
/// (or the shutdown timeout has passed), then hands import jobs back.
async fn run(
    app: App,
    listener: tokio::net::TcpListener,
    settings: crate::config::ConnectionSettings,
) {
    let shutdown = app.state.shutdown.clone();
    connections::serve(listener, app.router, settings, shutdown).await;
    if let Some(workers) = app.workers {
        workers.shutdown().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::{database_url_named, without_tls_on_loopback};

    #[test]
    fn a_database_of_the_same_server_keeps_its_settings() {
        assert_eq!(
            database_url_named("postgres://u@127.0.0.1:5432/test", "other"),
            "postgres://u@127.0.0.1:5432/other"
        );
        assert_eq!(
            database_url_named("postgres://u@h/test?sslmode=require&x=a/b", "other"),
            "postgres://u@h/other?sslmode=require&x=a/b"
        );
    }

    #[test]
    fn postgres_on_this_machine_goes_without_tls_unless_the_url_says() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
            ),
            (
                "postgresql://a:b@localhost/db?application_name=x",
                "postgresql://a:b@localhost/db?application_name=x&sslmode=disable",
            ),
            ("postgres://[::1]/db", "postgres://[::1]/db?sslmode=disable"),
            // Chosen in the URL, elsewhere, or not PostgreSQL: as written.
            (
                "postgres://127.0.0.1/db?sslmode=require",
                "postgres://127.0.0.1/db?sslmode=require",
            ),
            ("postgres://db.internal/db", "postgres://db.internal/db"),
            ("postgres://10.0.0.5/db", "postgres://10.0.0.5/db"),
            (
                "postgres://localhost/db?host=/run/postgresql",
                "postgres://localhost/db?host=/run/postgresql",
            ),
            ("sqlite://data.db?mode=rwc", "sqlite://data.db?mode=rwc"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(without_tls_on_loopback(url), expected, "{url}");
        }
    }
}
