//! The `tessera` command line (clap). Every subcommand shares `--database` and
//! `--config` (and their `TESSERA_*` variables), so an operator points all of
//! them at the same data. `--json` output is for scripts.
//!
//! Only `serve` creates a database. Commands that change something open an
//! existing one; commands that only read open it read-only (no migration, no
//! key scheduled, no setting generated), so a mistyped `--database` fails
//! instead of starting an empty installation. Exit statuses: [`exit`].
//! Output goes through [`say!`], which ends quietly when stdout's reader has
//! gone (`| head`) instead of panicking as `println!` does.

/// Print a line of a command's answer to stdout; `?`s an I/O error (a closed
/// pipe among them) out of the calling function.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))?
    };
}

mod audit;
mod backup;
mod client;
mod consent;
mod db;
pub mod exit;
mod first_admin;
mod keys;
mod manual;
mod sources;
mod token;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::server::{Server, shutdown_signal};
use crate::store::Access;

/// Write one line to stdout.
pub(crate) fn write_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version = crate::telemetry::VERSION,
    about = "An OAuth 2.1 authorization server for MCP servers",
    after_help = "Exit status: 0 ok, 1 a negative answer (a rejected token, a broken audit chain, \
                  no such client), 2 usage, 3 database unavailable, 4 other."
)]
pub struct Cli {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/NAME. Only `serve`
    /// creates it; other commands need it to exist
    /// [default: sqlite://tessera.db in --data-dir].
    #[arg(long = "database", env = "TESSERA_DATABASE_URL", global = true)]
    database: Option<String>,
    /// Directory of the SQLite database (and the first administrator's
    /// password file) when no database URL is given
    /// [default: $XDG_DATA_HOME/tessera, or ~/.local/share/tessera].
    #[arg(long, env = "TESSERA_DATA_DIR", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Optional TOML configuration file (see examples/tessera.toml).
    #[arg(long, env = "TESSERA_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log format: `text` (human-readable) or `json` (one object per line).
    #[arg(
        long,
        env = "TESSERA_LOG_FORMAT",
        global = true,
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

impl From<LogFormat> for crate::telemetry::LogFormat {
    fn from(f: LogFormat) -> Self {
        match f {
            LogFormat::Text => Self::Text,
            LogFormat::Json => Self::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the authorization server.
    Serve {
        /// Address to listen on: IP:PORT or HOST:PORT [default: 127.0.0.1:8080].
        #[arg(long, env = "TESSERA_LISTEN")]
        listen: Option<String>,
        /// Issuer URL: origin only, no trailing slash [default: http://LISTEN].
        #[arg(long, env = "TESSERA_ISSUER")]
        issuer: Option<String>,
        /// Initial access token that lets registration create machine clients.
        #[arg(long, env = "TESSERA_INITIAL_ACCESS_TOKEN", hide_env_values = true)]
        initial_access_token: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key).
        #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// Count rate limits in this Redis, shared by every replica
        /// (redis:// or rediss://) [default: the database when it is PostgreSQL].
        #[arg(long, env = "TESSERA_REDIS_URL", hide_env_values = true)]
        redis_url: Option<String>,
        /// Also listen here (IP:PORT or HOST:PORT) for /metrics and the health
        /// checks; /metrics then leaves the public listener.
        #[arg(long, env = "TESSERA_ADMIN_LISTEN")]
        admin_listen: Option<String>,
        /// Log a line per request (target tessera::access): method, path
        /// without query, status, duration, peer, request id.
        #[arg(long, env = "TESSERA_ACCESS_LOG")]
        access_log: bool,
    },
    /// Create and migrate the database, with its first signing key, without
    /// serving (so other commands can be run before the first `serve`).
    Init,
    /// Manage clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage the people who sign in.
    #[command(subcommand)]
    User(user::UserCommand),
    /// List and withdraw what people have allowed clients.
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    #[cfg(feature = "demo")]
    /// Run the demo MCP server (weather, calendar, email tools) protected by a
    /// Tessera issuer. Its resource is http://LISTEN/mcp: on another port than
    /// 3000 the issuer needs a `[[resources]]` entry for it.
    DemoMcp {
        /// The Tessera issuer protecting it (checked to answer at start).
        #[arg(long, env = "TESSERA_ISSUER", default_value = "http://127.0.0.1:8080")]
        issuer: String,
        /// Address to listen on: IP:PORT or HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
        /// Also serve the calendar API (`/calendar-api`) and reach it from
        /// `calendar_read` by token exchange, as this client (RFC 8693).
        #[arg(long, env = "TESSERA_DEMO_EXCHANGE_CLIENT_ID")]
        exchange_client_id: Option<String>,
        /// That client's secret.
        #[arg(
            long,
            env = "TESSERA_DEMO_EXCHANGE_CLIENT_SECRET",
            hide_env_values = true
        )]
        exchange_client_secret: Option<String>,
    },
    /// Read and verify the tamper-evident audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Copy the database consistently while the server runs (SQLite VACUUM INTO).
    Backup {
        /// Where to write the copy (a new file; it must not exist).
        path: String,
    },
    /// Move a SQLite installation to PostgreSQL (`db copy`).
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Explain tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Inspect and rotate signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Print a shell completion script (e.g. `tessera completions bash >
    /// /etc/bash_completion.d/tessera`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `tessera man > tessera.1; man ./tessera.1`.
    Man,
}

impl Command {
    /// What this command may do to the database.
    fn access(&self) -> Access {
        let read_only = match self {
            Command::Serve { .. } | Command::Init => return Access::Create,
            Command::Client(c) => c.is_read_only(),
            Command::User(c) => c.is_read_only(),
            Command::Consent(c) => c.is_read_only(),
            Command::Keys(c) => c.is_read_only(),
            Command::Audit(c) => c.is_read_only(),
            Command::Token(_) | Command::Backup { .. } => true,
            _ => false,
        };
        if read_only {
            Access::ReadOnly
        } else {
            Access::Existing
        }
    }
}

/// Parse the command line, run it, and turn the outcome into an exit status
/// ([`exit`]).
pub async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let json = matches!(cli.log_format, LogFormat::Json);
    let sources = sources::Sources::of(&matches);
    match run(cli, sources).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e, json),
    }
}

pub async fn run(cli: Cli, sources: sources::Sources) -> anyhow::Result<()> {
    // Every command checks tokens and writes records as the server's issuer:
    // TESSERA_ISSUER (which an env file shares with the server) counts for
    // all of them, not only for `serve` (whose --issuer overrides it).
    let issuer = std::env::var("TESSERA_ISSUER")
        .ok()
        .filter(|i| !i.is_empty());
    let mut sources = sources;
    if issuer.is_some() && sources.issuer.is_none() {
        sources.issuer = Some("TESSERA_ISSUER".to_owned());
    }
    let mut overrides = Overrides {
        database_url: cli.database.clone(),
        database_access: cli.command.access(),
        data_dir: cli.data_dir.clone(),
        issuer,
        sources: sources.clone(),
        // Read from the environment only: a secret on the command line leaks into `ps`.
        key_encryption_key: std::env::var("TESSERA_KEY_ENCRYPTION_KEY").ok(),
        audit_chain_key: std::env::var("TESSERA_AUDIT_CHAIN_KEY").ok(),
        ..Overrides::default()
    };
    let file = cli.config.as_deref();
    let load = |o: &Overrides| -> anyhow::Result<Config> {
        Config::load(file, o).map_err(|e| exit::Usage(e).into())
    };
    match cli.command {
        Command::Serve {
            listen,
            issuer,
            initial_access_token,
            tls_cert,
            tls_key,
            redis_url,
            admin_listen,
            access_log,
        } => {
            overrides.redis_url = redis_url;
            overrides.admin_listen = admin_listen;
            overrides.access_log = access_log;
            overrides.listen = listen;
            overrides.issuer = issuer;
            overrides.initial_access_token = initial_access_token;
            let tls = tls_cert
                .zip(tls_key)
                .map(|(cert, key)| crate::server::TlsFiles { cert, key });
            overrides.tls = tls.is_some();
            let config: Config = load(&overrides)?;
            let _logs = crate::telemetry::init_logs(cli.log_format.into());
            serve(config, tls, cli.log_format.into()).await
        }
        Command::Init => init(load(&overrides)?).await,
        Command::Client(cmd) => client::run(cmd, load(&overrides)?).await,
        Command::User(cmd) => user::run(cmd, load(&overrides)?).await,
        Command::Consent(cmd) => consent::run(cmd, load(&overrides)?).await,
        Command::Keys(cmd) => keys::run(cmd, load(&overrides)?).await,
        Command::Token(cmd) => token::run(cmd, load(&overrides)?).await,
        Command::Backup { path } => backup::run(&path, load(&overrides)?).await,
        Command::Audit(cmd) => audit::run(cmd, load(&overrides)?).await,
        Command::Db(cmd) => db::run(cmd, load(&overrides)?).await,
        Command::Completions { shell } => manual::completions(shell),
        Command::Man => manual::man_page(),
        #[cfg(feature = "demo")]
        Command::DemoMcp {
            issuer,
            listen,
            exchange_client_id,
            exchange_client_secret,
        } => {
            let _logs = crate::telemetry::init_logs(cli.log_format.into());
            let exchanger = match (exchange_client_id, exchange_client_secret) {
                (Some(id), Some(secret)) => Some(tessera_resource::exchange::TokenExchanger::new(
                    &format!("{}/token", issuer.trim_end_matches('/')),
                    &id,
                    tessera_resource::Secret::new(secret),
                )),
                _ => None,
            };
            crate::demo::run(&issuer, &listen, exchanger).await
        }
    }
}

async fn serve(
    config: Config,
    tls: Option<crate::server::TlsFiles>,
    format: crate::telemetry::LogFormat,
) -> anyhow::Result<()> {
    if let Some(files) = &tls {
        Server::check_tls(files).await?;
    }
    if let Some(dir) = &config.default_data_dir {
        create_data_dir(dir)?;
    }
    let issuer = config.issuer.clone();
    let open_files = crate::server::raise_open_files_limit();
    tracing::debug!(?open_files, "open-files limit");
    let server = Server::bind(config).await?;
    let addr = server.local_addr()?;
    let state = server.state();
    tracing::info!(
        database = state.store.backend_name(),
        rate_limits = state.limits.counted_in(),
        "serving"
    );
    let admin =
        crate::users::bootstrap_admin(&state.store, &state.passwords, state.clock.now()).await?;
    let metadata = format!(
        "{}/.well-known/oauth-authorization-server{}",
        issuer.origin(),
        issuer.path()
    );
    let json = format == crate::telemetry::LogFormat::Json;
    let admin_addr = server.admin_addr();
    let mut banner = format!(
        "Tessera is listening on {addr}\nissuer:   {}\nmetadata: {metadata}\n",
        issuer.as_str(),
    );
    if let Some(admin) = admin_addr {
        banner.push_str(&format!("metrics:  http://{admin}/metrics\n"));
    }
    if json {
        // Every line a JSON object: the banner is a log event like the rest.
        let admin = admin_addr.map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(listen = %addr, admin_listen = %admin, issuer = issuer.as_str(), metadata = %metadata, "Tessera is listening");
        banner.clear();
    }
    if let Some(password) = admin {
        let fields =
            serde_json::json!({"username": "admin", "by": "tessera serve (the first start)"});
        let now = state.clock.now();
        state
            .audit
            .record_durably("user_added", now, fields)
            .await?;
        let handover = first_admin::hand_over(&password, state.store.data_dir(), !json);
        match json {
            true => handover.log(),
            false => banner.push_str(&handover.notice()),
        }
    }
    // One write, and its failure ignored: `println!` panics when stdout is a
    // closed pipe (`tessera serve | head -1`), which would end the server.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), banner.as_bytes());
    server.run_until(shutdown_signal(), tls.as_ref()).await
}

/// `tessera init`: what `serve` does to the database before it listens.
async fn init(config: Config) -> anyhow::Result<()> {
    if let Some(dir) = &config.default_data_dir {
        create_data_dir(dir)?;
    }
    let url = config.database_url.clone();
    let state = crate::state::AppState::build(
        config,
        std::sync::Arc::new(tessera_resource::clock::SystemClock),
    )
    .await?;
    state.close().await;
    say!("initialized {url}");
    Ok(())
}

/// The default data directory, created owner-only when missing (an explicit
/// database path's directory is never created: a typo there must fail).
fn create_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display()))
}
