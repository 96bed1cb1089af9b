//! The command line: `serve`, `migrate`, `export-schema`, `token`, `user add`,
//! `policy explain`, `seed`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::auth::Authenticator;
use crate::config::{
    AuthArgs, AuthConfig, Config, DatabaseArgs, LogFormat, DEFAULT_LISTEN, DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BODY_BYTES,
};
use crate::policy::{Kind, KindRules, Policy};

#[derive(Parser, Debug)]
#[command(
    name = "annograph",
    version,
    about = "GraphQL data and permission back end for annotation platforms"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "ANNOGRAPH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the GraphQL server (applies migrations first).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the GraphQL schema (SDL) on stdout.
    ExportSchema,
    /// Print a signed development token (HS256) for a user.
    Token(TokenArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the permission policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Fill an empty database with a workspace of realistic size, to measure
    /// the server on (applies migrations first).
    Seed(Box<crate::seed::SeedArgs>),
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ANNOGRAPH_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub query: crate::config::QueryLimits,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// A folder holding `model.conf` and `policy.csv` to use instead of the built-in policy.
    #[arg(long, env = "ANNOGRAPH_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,
    /// Seed a small sample workspace and print a ready Authorization header
    /// (signed with a key of this process only; loopback addresses only).
    #[arg(long)]
    pub demo: bool,
    /// Largest accepted `/graphql` request body in bytes (413 beyond).
    #[arg(
        long,
        env = "ANNOGRAPH_MAX_BODY_BYTES",
        default_value_t = DEFAULT_MAX_BODY_BYTES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_body_bytes: usize,
    /// Most operations in one batched `/graphql` request (400 beyond).
    #[arg(
        long,
        env = "ANNOGRAPH_MAX_BATCH_SIZE",
        default_value_t = DEFAULT_MAX_BATCH_SIZE,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_batch_size: usize,
    /// Largest file in a multipart `/graphql` request (a manifest upload), in bytes (413 beyond).
    #[arg(
        long,
        env = "ANNOGRAPH_MAX_UPLOAD_BYTES",
        default_value_t = crate::config::DEFAULT_MAX_UPLOAD_BYTES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_upload_bytes: usize,
    /// Time a `/graphql/ws` client has to send `connection_init`, e.g. `10s` (close 4408 after).
    #[arg(long, env = "ANNOGRAPH_WS_INIT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub ws_init_timeout: Duration,
    /// Origins allowed to call the API from a browser, comma-separated
    /// (`https://app.example.com,http://localhost:3000`), or `*` for any.
    #[arg(long, env = "ANNOGRAPH_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// A folder under which LOCAL storage integrations may have their root
    /// (repeatable; the variable takes a comma-separated list). None: LOCAL
    /// integrations are refused.
    #[arg(
        long = "local-storage-root",
        env = "ANNOGRAPH_LOCAL_STORAGE_ROOTS",
        value_delimiter = ','
    )]
    pub local_storage_roots: Vec<PathBuf>,
    #[command(flatten)]
    pub import: crate::config::ImportSettings,
    #[command(flatten)]
    pub connections: crate::config::ConnectionSettings,
    /// Internal hosts storage integrations may reach, comma-separated: host
    /// names (`minio.internal`), `host:port`, addresses, `address:port` or
    /// CIDR ranges (`10.0.0.0/8`). By default loopback, private, link-local
    /// and other internal addresses are refused.
    #[arg(long, env = "ANNOGRAPH_STORAGE_ALLOWED_HOSTS", value_delimiter = ',')]
    pub storage_allowed_hosts: Vec<String>,
    /// Let `--demo` listen on a non-loopback address.
    #[arg(long, env = "ANNOGRAPH_DEMO_ALLOW_REMOTE")]
    pub demo_allow_remote: bool,
}

#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    /// The user's email (the token's `email` and `sub`).
    #[arg(long)]
    pub user: String,
    /// The user's display name.
    #[arg(long)]
    pub name: Option<String>,
    /// How long the token is valid, e.g. `1h`, `30m`, `7d`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user, or update the name and workspace role of an existing one.
    Add {
        /// Email address.
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Make the user a workspace ADMIN (otherwise MEMBER).
        #[arg(long)]
        workspace_admin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print which roles allow which actions, as the server compiles them.
    Explain {
        /// Only this kind of resource (dataset, project, ontology, folder, integration,
        /// group, workspace).
        #[arg(long)]
        kind: Option<String>,
        /// A folder holding `model.conf` and `policy.csv` instead of the built-in policy.
        #[arg(long, env = "ANNOGRAPH_POLICY_DIR")]
        policy_dir: Option<PathBuf>,
    },
}

pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ANNOGRAPH_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(db) => {
            let conn = crate::app::connect(&db.database_url, 1, db.db_busy_timeout).await?;
            crate::app::migrate(&conn).await?;
            println!(
                "migrations applied to {}",
                crate::app::redact(&db.database_url)
            );
            Ok(())
        }
        Command::Seed(args) => crate::seed::command(*args).await,
        Command::ExportSchema => {
            print!("{}", crate::graphql::schema::sdl());
            Ok(())
        }
        Command::Token(args) => {
            let auth = Authenticator::new(&AuthConfig::resolve(&args.auth)?)?;
            println!("{}", auth.mint(&args.user, args.name.as_deref(), args.ttl)?);
            Ok(())
        }
        Command::User(UserCommand::Add {
            email,
            name,
            workspace_admin,
            database,
        }) => {
            let conn =
                crate::app::connect(&database.database_url, 1, database.db_busy_timeout).await?;
            crate::app::migrate(&conn).await?;
            let user =
                crate::service::users::upsert(&conn, &email, name.as_deref(), workspace_admin)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            println!(
                "{} <{}> workspace role {} id {}",
                user.name,
                user.email,
                user.workspace_role,
                crate::ids::Id::<entity::user::Entity>::new(user.id)
            );
            Ok(())
        }
        Command::Policy(PolicyCommand::Explain { kind, policy_dir }) => {
            let policy = Policy::load(policy_dir.as_deref()).await?;
            let kinds: Vec<Kind> = match kind {
                Some(k) => vec![Kind::parse(&k).with_context(|| format!("unknown kind {k}"))?],
                None => Kind::ALL.to_vec(),
            };
            for kind in kinds {
                println!("{}", kind.as_str());
                for action in kind.actions() {
                    println!(
                        "  {:<22} {}",
                        action.as_str(),
                        policy
                            .roles_allowing(kind, *action)
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config {
        listen: args.listen,
        database_url: args.database.database_url,
        db_max_connections: args.database.db_max_connections,
        auth: AuthConfig::resolve(&args.auth)?,
        policy_dir: args.policy_dir,
        demo: args.demo,
        max_body_bytes: args.max_body_bytes,
        max_batch_size: args.max_batch_size,
        max_upload_bytes: args.max_upload_bytes,
        ws_init_timeout: args.ws_init_timeout,
        cors_origins: args.cors_origins,
        query: args.query,
        local_roots: args.local_storage_roots,
        import: args.import,
        storage_allowed_hosts: crate::storage::allow_list::AllowList::parse(
            &args.storage_allowed_hosts,
        )
        .map_err(anyhow::Error::msg)?,
        demo_allow_remote: args.demo_allow_remote,
        db_busy_timeout: args.database.db_busy_timeout,
        connections: args.connections,
    };
    let app = crate::app::build(&config).await?;
    if let Some(demo) = &app.demo {
        println!("annograph demo workspace is ready.");
        println!("  Playground:    http://{}/graphql", config.listen);
        println!(
            "  Signed in as:  {} (workspace ADMIN)",
            demo.workspace.admin_email
        );
        println!(
            "  Header:        {{\"Authorization\": \"Bearer {}\"}}",
            demo.token
        );
        println!("  (valid while this process runs; no other server accepts it)");
        println!(
            "  Other users:   {}",
            demo.workspace.other_emails.join(", ")
        );
    }
    crate::app::serve(app, &config).await
}
