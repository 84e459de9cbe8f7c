//! The `tessera` command line (clap). Every subcommand shares `--database` and
//! `--config` (and their `TESSERA_*` variables), so an operator points all of
//! them at the same data. `--json` output is for scripts.

mod audit;
mod backup;
mod client;
mod consent;
mod db;
mod first_admin;
mod keys;
mod token;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::server::{Server, shutdown_signal};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "An OAuth 2.1 authorization server for MCP servers"
)]
pub struct Cli {
    /// Database URL (created if missing).
    #[arg(long = "database", env = "TESSERA_DATABASE_URL", global = true)]
    database: Option<String>,
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
        /// Address to listen on [default: 127.0.0.1:8080].
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
    },
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
    /// Run the demo MCP server (weather, calendar, email tools) protected by a Tessera issuer.
    DemoMcp {
        /// The Tessera issuer protecting it.
        #[arg(long, env = "TESSERA_ISSUER", default_value = "http://127.0.0.1:8080")]
        issuer: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: std::net::SocketAddr,
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
        /// Where to write the copy (must not exist).
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
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = Overrides {
        database_url: cli.database.clone(),
        // Read from the environment only: a secret on the command line leaks into `ps`.
        key_encryption_key: std::env::var("TESSERA_KEY_ENCRYPTION_KEY").ok(),
        audit_chain_key: std::env::var("TESSERA_AUDIT_CHAIN_KEY").ok(),
        ..Overrides::default()
    };
    let file = cli.config.as_deref();
    let load = |o: &Overrides| Config::load(file, o);
    match cli.command {
        Command::Serve {
            listen,
            issuer,
            initial_access_token,
            tls_cert,
            tls_key,
            redis_url,
        } => {
            overrides.redis_url = redis_url;
            overrides.listen = listen;
            overrides.issuer = issuer;
            overrides.initial_access_token = initial_access_token;
            let tls = tls_cert
                .zip(tls_key)
                .map(|(cert, key)| crate::server::TlsFiles { cert, key });
            overrides.tls = tls.is_some();
            let config = load(&overrides)?;
            let _logs = crate::telemetry::init_logs(cli.log_format.into());
            serve(config, tls).await
        }
        Command::Client(cmd) => client::run(cmd, load(&overrides)?).await,
        Command::User(cmd) => user::run(cmd, load(&overrides)?).await,
        Command::Consent(cmd) => consent::run(cmd, load(&overrides)?).await,
        Command::Keys(cmd) => keys::run(cmd, load(&overrides)?).await,
        Command::Token(cmd) => token::run(cmd, load(&overrides)?).await,
        Command::Backup { path } => backup::run(&path, load(&overrides)?).await,
        Command::Audit(cmd) => audit::run(cmd, load(&overrides)?).await,
        Command::Db(cmd) => db::run(cmd, load(&overrides)?).await,
        #[cfg(feature = "demo")]
        Command::DemoMcp {
            issuer,
            listen,
            exchange_client_id,
            exchange_client_secret,
        } => {
            let _logs = crate::telemetry::init_logs(cli.log_format.into());
            let resource = format!("http://{listen}/mcp");
            let mut demo = crate::demo::Demo::new(&issuer, &resource)?;
            if let (Some(id), Some(secret)) = (exchange_client_id, exchange_client_secret) {
                let exchanger = tessera_resource::exchange::TokenExchanger::new(
                    &format!("{}/token", issuer.trim_end_matches('/')),
                    &id,
                    tessera_resource::Secret::new(secret),
                );
                demo = demo.with_downstream(exchanger)?;
                println!("calendar API: http://{listen}/calendar-api (reached by token exchange)");
            }
            println!("demo MCP server: {resource} (issuer {issuer})");
            demo.serve(listen).await
        }
    }
}

async fn serve(config: Config, tls: Option<crate::server::TlsFiles>) -> anyhow::Result<()> {
    if let Some(files) = &tls {
        Server::check_tls(files).await?;
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
    let mut banner = format!(
        "Tessera is listening on {addr}\nissuer:   {}\nmetadata: {}/.well-known/oauth-authorization-server{}\n",
        issuer.as_str(),
        issuer.origin(),
        issuer.path()
    );
    if let Some(password) = admin {
        let fields =
            serde_json::json!({"username": "admin", "by": "tessera serve (the first start)"});
        let now = state.clock.now();
        state
            .audit
            .record_durably("user_added", now, fields)
            .await?;
        banner.push_str(&first_admin::notice(&password, state.store.data_dir()));
    }
    // One write, and its failure ignored: `println!` panics when stdout is a
    // closed pipe (`tessera serve | head -1`), which would end the server.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), banner.as_bytes());
    server.run_until(shutdown_signal(), tls.as_ref()).await
}
