//! What Tessera tells its operators: logs ([`init_logs`]: text or JSON lines
//! on stderr, audit events on their own target, every line terminal-safe
//! through [`log_writer`]), the request id ([`request_id`]) and Prometheus
//! metrics ([`metrics`], the process's own from /proc: [`process`]).

pub mod audit_lines;
pub mod log_writer;
pub mod metrics;
pub mod process;
pub mod request_id;

#[cfg(feature = "demo")]
macro_rules! features {
    () => {
        "demo"
    };
}
#[cfg(not(feature = "demo"))]
macro_rules! features {
    () => {
        "none"
    };
}
/// The features compiled in, for `--version` and `tessera_build_info`.
pub const FEATURES: &str = features!();

/// `tessera --version`: the version, the commit it was built from
/// (`build.rs`), and the features compiled in.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TESSERA_COMMIT"),
    ", features: ",
    features!(),
    ")"
);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs go to stderr through a background writer, so a request never waits
/// on the terminal or a pipe (every token request logs an audit line). It is
/// not lossy: when the buffer is full, logging waits. The buffer is a
/// preallocated ring of 32-byte slots: the default 128,000 lines would keep
/// 4 MB resident from the start; 8,192 lines (256 KiB) absorb bursts as well,
/// since the writer thread drains them at terminal or pipe speed anyway.
/// Keep the guard alive: dropping it flushes.
const LOG_BUFFER_LINES: usize = 8_192;

/// The background writer drains every line queued, then flushes: buffering
/// stderr turns a burst of lines (an audit line per token request) into a
/// few writes instead of a system call per line, and delays no line past
/// the end of its burst.
const LOG_WRITE_BYTES: usize = 64 * 1024;

pub fn init_logs(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, fmt};

    use log_writer::TerminalSafe;

    let filter =
        || EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .finish(std::io::BufWriter::with_capacity(
            LOG_WRITE_BYTES,
            std::io::stderr(),
        ));
    // Colours only for a person at a terminal: a file, a pipe or journald
    // would keep the escape codes (NO_COLOR turns them off there too).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    match format {
        LogFormat::Text => {
            // Audit lines skip the sanitizer every other line goes through,
            // which escapes a character at a time and would do so for every
            // token request: they are JSON, and their writer escapes what
            // JSON leaves raw (`log_writer`).
            let audit = |m: &tracing::Metadata<'_>| m.target() == AUDIT_TARGET;
            let audit_lines = fmt::layer()
                .with_ansi(colour)
                .with_ansi_sanitization(false)
                .with_writer(TerminalSafe(writer.clone()))
                .with_filter(filter().and(filter_fn(audit)));
            let other_lines = fmt::layer()
                .with_ansi(colour)
                .with_writer(writer)
                .with_filter(filter().and(filter_fn(move |m| !audit(m))));
            let _ = tracing_subscriber::registry()
                .with(audit_lines)
                .with(other_lines)
                .try_init();
        }
        // tracing-subscriber sanitizes no JSON line: serde_json escapes the
        // C0 controls in every string, and the writer DEL and the C1
        // controls (`log_writer::TerminalSafe`).
        // Audit events are lines of their own shape (`audit_lines`): their
        // fields are the line's.
        LogFormat::Json => {
            let audit = |m: &tracing::Metadata<'_>| m.target() == AUDIT_TARGET;
            let audit_lines = audit_lines::AuditLines::new(writer.clone())
                .with_filter(filter().and(filter_fn(audit)));
            let other_lines = fmt::layer()
                .with_writer(TerminalSafe(writer))
                .json()
                .flatten_event(true)
                .with_filter(filter().and(filter_fn(move |m| !audit(m))));
            let _ = tracing_subscriber::registry()
                .with(audit_lines)
                .with(other_lines)
                .try_init();
        }
    }
    guard
}

/// The log target of the access log (`access_log = true`): a line per request.
pub const ACCESS_TARGET: &str = "tessera::access";

/// The log target of audit events (the issuer's and the kit's).
pub const AUDIT_TARGET: &str = "tessera::audit";
