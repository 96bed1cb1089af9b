//! Typed configuration: flags, then `ANNOGRAPH_*` / `DATABASE_URL` environment
//! variables, then defaults (clap layers them), validated once at start.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::RngCore;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://annograph.db?mode=rwc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Largest accepted `/graphql` request body (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most operations in one batched `/graphql` request.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 20;
/// Largest uploaded file (a manifest) by default: 64 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// Time a `/graphql/ws` client has to send `connection_init`.
pub const DEFAULT_WS_INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A value that must never reach a log line.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Read from JSON (storage credentials) without ever printing it.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Database connection settings.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH?mode=rwc` (embedded) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Maximum connections in the pool.
    #[arg(long, env = "ANNOGRAPH_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// SQLite: how long a write waits for another writer to finish, e.g.
    /// `15s`, before it is refused with `BUSY` (at least `1ms`, at most `10m`).
    #[arg(long, env = "ANNOGRAPH_DB_BUSY_TIMEOUT", default_value = "15s", value_parser = parse_busy_timeout)]
    pub db_busy_timeout: std::time::Duration,
}

/// Longest `--db-busy-timeout`: a writer waiting longer holds its request
/// (and a pooled connection) past any sensible client timeout.
pub const MAX_DB_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Default `--db-busy-timeout`.
pub const DEFAULT_DB_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

fn parse_busy_timeout(text: &str) -> Result<std::time::Duration, String> {
    let value = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if value.is_zero() || value > MAX_DB_BUSY_TIMEOUT {
        return Err("the busy timeout must be between 1ms and 10m".to_owned());
    }
    Ok(value)
}

/// How bearer tokens are verified (and, for HS256, minted).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AuthArgs {
    /// Shared secret for HS256 tokens.
    #[arg(long, env = "ANNOGRAPH_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key (RSA or EC P-256) for RS256 / ES256 tokens of an identity provider.
    #[arg(long, env = "ANNOGRAPH_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long, env = "ANNOGRAPH_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long, env = "ANNOGRAPH_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Where a development HS256 secret is kept when neither a secret nor a
    /// public key is configured (created on first use, mode 0600).
    #[arg(
        long,
        env = "ANNOGRAPH_JWT_SECRET_FILE",
        default_value = ".annograph/jwt-secret"
    )]
    pub jwt_secret_file: PathBuf,
    /// Clock skew forgiven when checking `exp` and `nbf`, e.g. `30s` (at most 5 minutes).
    #[arg(long, env = "ANNOGRAPH_JWT_LEEWAY", default_value = "30s", value_parser = humantime::parse_duration)]
    pub jwt_leeway: std::time::Duration,
    /// JWKS URL of an identity provider (RS256 / ES256 / EdDSA keys), fetched
    /// at start, on an unknown `kid` and every 10 minutes.
    #[arg(long, env = "ANNOGRAPH_JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
}

/// Longest clock-skew leeway accepted.
pub const MAX_JWT_LEEWAY: std::time::Duration = std::time::Duration::from_secs(300);

/// How the keys of a JWKS URL are kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksSettings {
    /// Fetched again this often.
    pub refresh_every: std::time::Duration,
    /// A token with an unknown `kid` fetches the keys again, at most this often.
    pub min_refetch: std::time::Duration,
    /// Longest a fetch may take.
    pub timeout: std::time::Duration,
}

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            refresh_every: std::time::Duration::from_secs(600),
            min_refetch: std::time::Duration::from_secs(30),
            timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Verified token settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub secret: Option<Secret>,
    pub public_key_pem: Option<Vec<u8>>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Clock skew forgiven on `exp` and `nbf`.
    pub leeway: std::time::Duration,
    /// Where the identity provider publishes its keys (JWKS).
    pub jwks_url: Option<String>,
    pub jwks: JwksSettings,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            secret: None,
            public_key_pem: None,
            issuer: None,
            audience: None,
            leeway: std::time::Duration::from_secs(30),
            jwks_url: None,
            jwks: JwksSettings::default(),
        }
    }
}

impl AuthConfig {
    /// Resolves the token settings. With neither a secret nor a public key,
    /// a development secret is read from (or created in) `jwt_secret_file`, so
    /// that `annograph serve` and `annograph token` agree out of the box.
    pub fn resolve(args: &AuthArgs) -> Result<AuthConfig, ConfigError> {
        let public_key_pem = match &args.jwt_public_key_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| ConfigError::Io {
                path: path.display().to_string(),
                source,
            })?),
            None => None,
        };
        let secret = match (&args.jwt_secret, &public_key_pem) {
            (Some(s), _) if s.len() < 16 => {
                return Err(ConfigError::Invalid(
                    "ANNOGRAPH_JWT_SECRET must be at least 16 characters".into(),
                ))
            }
            (Some(s), _) => Some(Secret::new(s.clone())),
            (None, Some(_)) => None,
            (None, None) if args.jwt_jwks_url.is_some() => None,
            (None, None) => Some(development_secret(&args.jwt_secret_file)?),
        };
        if args.jwt_leeway > MAX_JWT_LEEWAY {
            return Err(ConfigError::Invalid(
                "ANNOGRAPH_JWT_LEEWAY must be at most 5 minutes".into(),
            ));
        }
        Ok(AuthConfig {
            secret,
            public_key_pem,
            issuer: args.jwt_issuer.clone(),
            audience: args.jwt_audience.clone(),
            leeway: args.jwt_leeway,
            jwks_url: args.jwt_jwks_url.clone(),
            jwks: JwksSettings::default(),
        })
    }
}

fn development_secret(path: &Path) -> Result<Secret, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(Secret::new(s.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    write_private(path, &secret).map_err(io)?;
    tracing::warn!(
        path = %path.display(),
        "no ANNOGRAPH_JWT_SECRET configured; created a development secret"
    );
    Ok(Secret::new(secret))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Log output format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Limits on what one GraphQL operation may ask for.
#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Deepest nesting of selections accepted.
    #[arg(long, env = "ANNOGRAPH_MAX_DEPTH", default_value_t = 16)]
    pub max_depth: usize,
    /// Highest complexity accepted; a connection costs its `first` times its selection.
    #[arg(long, env = "ANNOGRAPH_MAX_COMPLEXITY", default_value_t = 250_000)]
    pub max_complexity: usize,
    /// Most aliased fields in one document.
    #[arg(long, env = "ANNOGRAPH_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// Longest an operation may run, e.g. `30s`.
    #[arg(long, env = "ANNOGRAPH_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: std::time::Duration,
    /// Answer introspection queries (`__schema`, `__type`).
    #[arg(long, env = "ANNOGRAPH_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// How many automatic persisted queries each instance remembers.
    #[arg(long, env = "ANNOGRAPH_PERSISTED_QUERIES", default_value_t = 1000)]
    pub persisted_queries: usize,
    /// Most field selections in one document, fragments expanded, counted
    /// before anything runs.
    #[arg(long, env = "ANNOGRAPH_MAX_FIELDS", default_value_t = 2000, value_parser = at_least_one)]
    pub max_fields: usize,
    /// Most lexical tokens in one document, counted before it is parsed.
    #[arg(long, env = "ANNOGRAPH_MAX_TOKENS", default_value_t = 15_000, value_parser = at_least_one)]
    pub max_tokens: usize,
    /// Most field selections in a document sent without a token.
    #[arg(long, env = "ANNOGRAPH_ANONYMOUS_MAX_FIELDS", default_value_t = 500, value_parser = at_least_one)]
    pub anonymous_max_fields: usize,
    /// Most lexical tokens in a document sent without a token.
    #[arg(long, env = "ANNOGRAPH_ANONYMOUS_MAX_TOKENS", default_value_t = 2000, value_parser = at_least_one)]
    pub anonymous_max_tokens: usize,
}

/// A count limit: a whole number of at least 1.
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a whole number of at least 1, not {value:?}"
        )),
    }
}

impl QueryLimits {
    /// What a signed-in caller's document may cost.
    pub fn budget(&self) -> crate::graphql::document::Budget {
        crate::graphql::document::Budget {
            max_fields: self.max_fields,
            max_tokens: self.max_tokens,
        }
    }

    /// What a document sent without a token may cost: never more than a
    /// signed-in caller's.
    pub fn anonymous_budget(&self) -> crate::graphql::document::Budget {
        crate::graphql::document::Budget {
            max_fields: self.anonymous_max_fields.min(self.max_fields),
            max_tokens: self.anonymous_max_tokens.min(self.max_tokens),
        }
    }
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_depth: 16,
            max_complexity: 250_000,
            max_aliases: 50,
            request_timeout: std::time::Duration::from_secs(30),
            introspection: true,
            persisted_queries: 1000,
            max_fields: 2000,
            max_tokens: 15_000,
            anonymous_max_fields: 500,
            anonymous_max_tokens: 2000,
        }
    }
}

/// How this instance runs import jobs.
#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSettings {
    /// Import jobs this instance runs at once (0: none; the instance only
    /// accepts jobs, others run them).
    #[arg(
        long = "import-jobs",
        env = "ANNOGRAPH_IMPORT_JOBS",
        default_value_t = 2
    )]
    pub jobs: usize,
    /// Objects of one job whose metadata is read at once.
    #[arg(
        long = "import-concurrency",
        env = "ANNOGRAPH_IMPORT_CONCURRENCY",
        default_value_t = 16,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256)
    )]
    pub concurrency: usize,
    /// A running job whose instance has not reported for this long is taken
    /// over by another (or by this one after a restart), e.g. `30s`.
    #[arg(long = "import-stale-after", env = "ANNOGRAPH_IMPORT_STALE_AFTER", default_value = "30s", value_parser = humantime::parse_duration)]
    pub stale_after: std::time::Duration,
    /// Most entries in one manifest.
    #[arg(
        long = "import-max-entries",
        env = "ANNOGRAPH_IMPORT_MAX_ENTRIES",
        default_value_t = 100_000,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_entries: usize,
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            jobs: 2,
            concurrency: 16,
            stale_after: std::time::Duration::from_secs(30),
            max_entries: 100_000,
        }
    }
}

/// How long connections may take and how many may be open; rate limits.
#[derive(clap::Args, Debug, Clone, Copy, PartialEq)]
pub struct ConnectionSettings {
    /// Time a client has to send a whole request head: from opening the
    /// connection, or from the first byte of a later request on it, e.g. `10s`.
    #[arg(long, env = "ANNOGRAPH_HEADER_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub header_timeout: std::time::Duration,
    /// Time a client has to send a whole request body once its head has
    /// arrived (408 and the connection closed after), e.g. `60s`.
    #[arg(long, env = "ANNOGRAPH_BODY_TIMEOUT", default_value = "60s", value_parser = positive_duration)]
    pub body_timeout: std::time::Duration,
    /// A kept-alive connection with no request for this long is closed, e.g. `60s`.
    #[arg(long, env = "ANNOGRAPH_IDLE_TIMEOUT", default_value = "60s", value_parser = positive_duration)]
    pub idle_timeout: std::time::Duration,
    /// Most connections open at once (WebSockets included); more wait in the
    /// listen queue. Default: three quarters of the open-file limit.
    #[arg(long, env = "ANNOGRAPH_MAX_CONNECTIONS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_CONNECTIONS_CEILING as u64))]
    pub max_connections: Option<usize>,
    /// On SIGTERM / Ctrl-C: how long open requests may finish before their
    /// connections are dropped and import jobs are handed back, e.g. `20s`.
    #[arg(long, env = "ANNOGRAPH_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: std::time::Duration,
    /// A `/graphql/ws` connection with no operation running for this long is
    /// closed (1000, "Idle timeout"), signed in or not, e.g. `60s`.
    #[arg(long, env = "ANNOGRAPH_WS_IDLE_TIMEOUT", default_value = "60s", value_parser = positive_duration)]
    pub ws_idle_timeout: std::time::Duration,
    /// Requests per second each user (or, without a token, each client
    /// address) may send on average; 0 turns rate limiting off.
    #[arg(long, env = "ANNOGRAPH_RATE_LIMIT", default_value_t = DEFAULT_RATE_LIMIT, value_parser = non_negative_rate)]
    pub rate_limit: f64,
    /// Requests each user or address may send at once after a pause.
    #[arg(long, env = "ANNOGRAPH_RATE_LIMIT_BURST", default_value_t = DEFAULT_RATE_LIMIT_BURST, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(1..))]
    pub rate_limit_burst: u32,
    /// Limit clients on loopback addresses too (a reverse proxy on the same
    /// host needs this; otherwise they are not limited).
    #[arg(long, env = "ANNOGRAPH_RATE_LIMIT_LOOPBACK", default_value_t = false, action = clap::ArgAction::Set)]
    pub rate_limit_loopback: bool,
}

/// Default `--rate-limit` (requests per second).
pub const DEFAULT_RATE_LIMIT: f64 = 20.0;
/// Default `--rate-limit-burst`.
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 100;
/// Highest `--max-connections`.
pub const MAX_CONNECTIONS_CEILING: usize = 1_000_000;

fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text) {
        Ok(value) if !value.is_zero() => Ok(value),
        Ok(_) => Err("the duration must be longer than 0".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

fn non_negative_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!(
            "expected requests per second (0 or more), not {text:?}"
        )),
    }
}

impl ConnectionSettings {
    /// `max_connections`, or three quarters of the soft open-file limit (the
    /// rest is left to the database pool, storage and temporary files).
    pub fn connection_cap(&self) -> usize {
        self.max_connections
            .unwrap_or_else(|| open_file_limit().map_or(768, |limit| limit / 4 * 3))
            .clamp(1, MAX_CONNECTIONS_CEILING)
    }

    /// The rate limits' settings.
    pub fn rate(&self) -> crate::http::rate_limit::RateSettings {
        crate::http::rate_limit::RateSettings {
            per_second: self.rate_limit,
            burst: self.rate_limit_burst,
            loopback: self.rate_limit_loopback,
        }
    }
}

/// The soft limit on open files of this process.
#[cfg(unix)]
fn open_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    // Unlimited (RLIM_INFINITY) is the largest number: the cap's ceiling applies.
    ok.then_some(usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<usize> {
    None
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(60),
            idle_timeout: std::time::Duration::from_secs(60),
            max_connections: None,
            shutdown_timeout: std::time::Duration::from_secs(20),
            ws_idle_timeout: std::time::Duration::from_secs(60),
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_limit_burst: DEFAULT_RATE_LIMIT_BURST,
            rate_limit_loopback: false,
        }
    }
}

/// Everything `annograph serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub db_max_connections: u32,
    pub auth: AuthConfig,
    /// A folder with `model.conf` and `policy.csv`; the built-in policy otherwise.
    pub policy_dir: Option<PathBuf>,
    pub demo: bool,
    /// Largest `/graphql` request body in bytes; larger ones get a 413.
    pub max_body_bytes: usize,
    /// Most operations in one batched request; more get a 400.
    pub max_batch_size: usize,
    /// Largest file of a multipart request (a manifest upload) in bytes;
    /// larger ones get a 413.
    pub max_upload_bytes: usize,
    /// Time a `/graphql/ws` client has to send `connection_init` (close 4408 after).
    pub ws_init_timeout: std::time::Duration,
    /// Origins allowed to call the API from a browser (`*`: any); none: no
    /// CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Depth, complexity, alias, time and introspection limits of operations.
    pub query: QueryLimits,
    /// Folders under which LOCAL storage integrations may have their root;
    /// none: LOCAL integrations are refused.
    pub local_roots: Vec<PathBuf>,
    /// How import jobs run here.
    pub import: ImportSettings,
    /// Internal hosts, ports and ranges storage integrations may reach; by
    /// default none (only public addresses).
    pub storage_allowed_hosts: crate::storage::allow_list::AllowList,
    /// With `demo`: listen on a non-loopback address all the same.
    pub demo_allow_remote: bool,
    /// SQLite: how long a write waits for the write lock before `BUSY`.
    pub db_busy_timeout: std::time::Duration,
    /// Timeouts, the connection cap and rate limits.
    pub connections: ConnectionSettings,
}

impl Config {
    /// A configuration for tests and embedding: the given database, a fixed
    /// HS256 secret, a loopback port chosen by the OS.
    pub fn for_database(database_url: &str, jwt_secret: &str) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_owned(),
            db_max_connections: 5,
            auth: AuthConfig {
                secret: Some(Secret::new(jwt_secret)),
                ..AuthConfig::default()
            },
            policy_dir: None,
            demo: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            ws_init_timeout: DEFAULT_WS_INIT_TIMEOUT,
            cors_origins: Vec::new(),
            query: QueryLimits::default(),
            local_roots: Vec::new(),
            import: ImportSettings::default(),
            storage_allowed_hosts: Default::default(),
            demo_allow_remote: false,
            db_busy_timeout: DEFAULT_DB_BUSY_TIMEOUT,
            connections: ConnectionSettings::default(),
        }
    }
}

/// Bounds on what a manifest may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestLimits {
    /// Most entries, good or bad, in one manifest.
    pub max_entries: usize,
    /// Longest object URL, in bytes. URLs are also held to
    /// [`MAX_URL_LENGTH`](crate::service::files::MAX_URL_LENGTH) by `validate_object_url`.
    pub max_url_len: usize,
    /// Largest manifest, in bytes.
    pub max_bytes: u64,
}

impl Default for ManifestLimits {
    fn default() -> Self {
        ManifestLimits {
            max_entries: 100_000,
            max_url_len: crate::service::files::MAX_URL_LENGTH,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}
