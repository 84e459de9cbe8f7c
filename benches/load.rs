//! Tessera's load harness (issue 7): a real `tessera serve` on loopback with a
//! fresh SQLite database, prepared through its CLI and HTTP interfaces, driven
//! over keep-alive HTTP/1.1 connections, scenario by scenario.
//!
//! ```text
//! cargo bench --bench load -- [--scenario NAME]... [--concurrency 32] [--seconds 10]
//!                             [--warmup 2] [--preload N] [--postgres URL] [--isolation]
//!                             [--smoke] [--json PATH]
//! ```
//!
//! `cargo bench` builds the release `tessera` binary with the bench; the
//! harness runs exactly that binary. The measured baselines (HTTP floor,
//! ES256 signing rate), the efficiency ratio and the issue's targets are
//! reported beside the scenarios. BENCHMARKS.md describes the method.

#[path = "load/baseline.rs"]
mod baseline;
#[path = "load/breakdown.rs"]
mod breakdown;
#[path = "load/ceiling.rs"]
mod ceiling;
#[path = "load/driver.rs"]
mod driver;
#[path = "load/http.rs"]
mod http;
#[path = "load/postgres.rs"]
mod postgres;
#[path = "load/preload.rs"]
mod preload;
#[path = "load/prepare.rs"]
mod prepare;
#[path = "load/report.rs"]
mod report;
#[path = "load/scenarios.rs"]
mod scenarios;
#[path = "load/server.rs"]
mod server;
#[path = "load/targets.rs"]
mod targets;
#[path = "load/timeline.rs"]
mod timeline;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use breakdown::Breakdown;
use driver::{Load, Measured, Usage, Window, spawn_group, watch_server};
use prepare::{Prepared, prepare};
use report::{Baselines, CeilingRows, Machine, PreloadInfo, Report, Row, Settings, Suite};
use scenarios::{Fixture, Scenario};
use server::Server;

/// Load harness for Tessera.
#[derive(Debug, Parser)]
#[command(name = "load")]
struct Options {
    /// Scenario to run (repeatable): floor, client_credentials, auth_code_flow,
    /// refresh, jwks, metadata, register, sign_in, introspection,
    /// kit_validation, or all.
    #[arg(long = "scenario", default_value = "all")]
    scenarios: Vec<String>,
    /// Virtual users, each with its own keep-alive connection.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Warm-up seconds before each measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Also run every scenario again on a database preloaded with N clients
    /// and N refresh-token families.
    #[arg(long)]
    preload: Option<usize>,
    /// Also run every scenario on PostgreSQL, in a fresh database the harness
    /// creates on this server (and drops after): postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "TESSERA_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// Run a sign-in (argon2) flood beside client_credentials.
    #[arg(long)]
    isolation: bool,
    /// A short run of every available scenario at low concurrency; fails on any error.
    #[arg(long)]
    smoke: bool,
    /// Skip the paced client_credentials run at half of the measured peak.
    #[arg(long)]
    no_half_peak: bool,
    /// Worker threads of the load generator's runtime (default: one per core).
    #[arg(long, default_value_t = cores())]
    client_threads: usize,
    /// Where to write the JSON results.
    #[arg(long, default_value = "target/bench/results.json")]
    json: PathBuf,
    /// The `tessera` binary (default: the one cargo built for this bench).
    #[arg(long)]
    tessera: Option<PathBuf>,
    /// Run as the harness's ceiling server on this address (the harness
    /// starts itself so; see `ceiling.rs`).
    #[arg(long, hide = true)]
    ceiling_server: Option<std::net::SocketAddr>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Options {
    fn finish(mut self) -> Self {
        if self.smoke {
            self.scenarios = vec!["all".to_owned()];
            self.concurrency = self.concurrency.min(4);
            self.seconds = 1.0;
            self.warmup = 0.5;
            self.no_half_peak = true;
            self.isolation = false;
        }
        self
    }

    fn load(&self) -> Load {
        Load {
            concurrency: self.concurrency.max(1),
            rate: None,
        }
    }

    fn window(&self) -> Window {
        Window::new(
            Duration::from_secs_f64(self.warmup),
            Duration::from_secs_f64(self.seconds),
        )
    }

    /// The scenarios in run order, with the floor first (it is a baseline).
    fn scenarios(&self) -> Result<Vec<Scenario>, String> {
        let mut wanted = Vec::new();
        for name in &self.scenarios {
            if name == "all" {
                wanted.extend(Scenario::ALL);
            } else {
                wanted.push(
                    Scenario::parse(name).ok_or_else(|| format!("unknown scenario '{name}'"))?,
                );
            }
        }
        if self.isolation || wanted.contains(&Scenario::ClientCredentials) {
            wanted.push(Scenario::Floor);
            wanted.push(Scenario::ClientCredentials);
        }
        Ok(Scenario::ALL
            .into_iter()
            .filter(|s| wanted.contains(s))
            .collect())
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The generator's allocator matches the server's: hyper's buffers are freed
/// on other runtime threads than allocated them here too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let options = Options::parse().finish();
    if let Some(listen) = options.ceiling_server {
        return ceiling::main(listen);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.client_threads.max(1))
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(&options)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match result {
        Ok(report) => finish(&options, &report),
        Err(e) => {
            eprintln!("load: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn finish(options: &Options, report: &Report) -> ExitCode {
    println!("{}", report.markdown());
    if let Err(e) = write_json(&options.json, report) {
        eprintln!("load: error: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("JSON results: {}", options.json.display());
    let errors = report.errors();
    if errors > 0 {
        eprintln!("load: {errors} error(s): every scenario must run without errors");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn write_json(path: &Path, report: &Report) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))
}

async fn run(options: &Options) -> Result<Report, String> {
    let scenarios = options.scenarios()?;
    let bin = options
        .tessera
        .clone()
        .unwrap_or_else(|| PathBuf::from(server::TESSERA_BIN));
    eprintln!("tessera binary: {}", bin.display());
    let signing_run = Duration::from_secs_f64(if options.smoke { 0.5 } else { 2.0 });
    eprintln!("measuring the ES256 signing rate on one core…");
    let signing_rate = baseline::signing_rate(signing_run)?;
    // Both servers are prepared first, then each scenario runs on the empty
    // database and at once on the preloaded one: the growth ratios compare
    // windows seconds apart, not suites minutes apart (this host's speed
    // drifts by 10-15% over minutes; BENCHMARKS.md, "The machine").
    let empty = open_suite(options, &bin, "empty database", None, None).await?;
    let grown = match options.preload {
        Some(n) => {
            let label = format!("preloaded: {n} clients + {n} families");
            Some(open_suite(options, &bin, &label, Some(n), None).await?)
        }
        None => None,
    };
    let on_postgres = match &options.postgres {
        Some(server) => Some(open_suite(options, &bin, POSTGRES, None, Some(server)).await?),
        None => None,
    };
    // The ceiling runs beside the efficiency ratio's own windows.
    let ceiling = if scenarios.contains(&Scenario::ClientCredentials) {
        Some(Ceiling::start(&empty.prepared.fixture).await?)
    } else {
        None
    };
    let mut ceiling_rows = None;
    let mut empty_rows = Vec::new();
    let mut grown_rows = Vec::new();
    let mut postgres_rows = Vec::new();
    for &scenario in &scenarios {
        empty_rows.extend(run_scenario(options, &empty, scenario).await?);
        if let Some(g) = &grown {
            grown_rows.extend(run_scenario(options, g, scenario).await?);
        }
        if let Some(p) = &on_postgres {
            postgres_rows.extend(run_scenario(options, p, scenario).await?);
        }
        if let (Scenario::ClientCredentials, Some(c)) = (scenario, &ceiling) {
            ceiling_rows = Some(c.measure(options).await?);
        }
    }
    if let Some(c) = ceiling {
        c.stop();
    }
    if options.isolation {
        let peak = empty_rows
            .iter()
            .find(|r| r.scenario == "client_credentials")
            .map_or(0.0, |r| r.rate);
        empty_rows.extend(isolation(options, &empty.prepared, peak).await?);
    }
    let mut suites = vec![close_suite(empty, empty_rows).await];
    if let Some(g) = grown {
        suites.push(close_suite(g, grown_rows).await);
    }
    if let Some(p) = on_postgres {
        suites.push(close_suite(p, postgres_rows).await);
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let baselines = match (suites[0].row("floor"), suites[0].row("client_credentials")) {
        (Some(floor), Some(cc)) => Some(Baselines {
            breakdown: Some(Breakdown::new(floor, cc, signing_rate, cores)),
            ceiling: ceiling_rows
                .map(|(f, t)| CeilingRows::new(f, t, signing_rate, cores, cc.rate)),
            ..Baselines::new(floor.rate, signing_rate, cores, cc.rate)
        }),
        _ => None,
    };
    let targets = targets::evaluate(&suites, baselines.as_ref());
    Ok(Report {
        machine: Machine::detect(),
        settings: Settings {
            concurrency: options.concurrency,
            seconds: options.seconds,
            warmup_seconds: options.warmup,
            client_threads: options.client_threads,
            smoke: options.smoke,
        },
        suites,
        baselines,
        targets: if options.smoke { Vec::new() } else { targets },
    })
}

/// The label of the PostgreSQL suite (`targets.rs` finds it by it).
pub const POSTGRES: &str = "PostgreSQL";

/// A prepared server, its database directory and the suite's label.
struct OpenSuite {
    label: String,
    prepared: Prepared,
    /// Removed when the suite closes, after the server stops.
    _dir: tempfile::TempDir,
    /// The PostgreSQL suite's database, dropped when the suite closes.
    postgres: Option<postgres::Database>,
}

/// Prepare a server (optionally preloaded) in a new temporary directory, on
/// SQLite there or on a new database on the `postgres` server.
async fn open_suite(
    options: &Options,
    bin: &Path,
    label: &str,
    preload: Option<usize>,
    postgres: Option<&str>,
) -> Result<OpenSuite, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    eprintln!("== {label}: preparing in {}", dir.path().display());
    let database = match postgres {
        Some(server) => Some(postgres::Database::create(server).await?),
        None => None,
    };
    let url = database.as_ref().map(|d| d.url.as_str());
    let prepared = prepare(bin, dir.path(), url, options.concurrency, preload).await?;
    Ok(OpenSuite {
        label: label.to_owned(),
        prepared,
        _dir: dir,
        postgres: database,
    })
}

/// Stop the server and gather what was measured on it.
async fn close_suite(open: OpenSuite, rows: Vec<Row>) -> Suite {
    let OpenSuite {
        label,
        prepared,
        _dir: dir,
        postgres,
    } = open;
    let suite = Suite {
        label: label.clone(),
        first_start_ready_ms: prepared.first_start_ready.as_secs_f64() * 1000.0,
        ready_ms: prepared.server.ready.as_secs_f64() * 1000.0,
        idle_rss_mib: prepared.server.idle_rss_kib as f64 / 1024.0,
        preload: prepared.preloaded.map(|p| PreloadInfo {
            clients: p.clients,
            families: p.families,
            seconds: p.seconds,
            database_mib: database_mib(&prepared.dir),
        }),
        rows,
    };
    prepared.server.keep_log(
        Path::new("target/bench"),
        &label.replace([' ', ':', '+'], "-"),
    );
    if let Err(e) = prepared.server.stop() {
        eprintln!("warning: {e}");
    }
    drop(dir);
    if let Some(database) = postgres {
        database.drop().await;
    }
    suite
}

fn database_mib(dir: &Path) -> f64 {
    ["tessera.db", "tessera.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
        .sum()
}

/// One scenario, plus the paced half-peak run after client_credentials.
async fn run_scenario(
    options: &Options,
    suite: &OpenSuite,
    scenario: Scenario,
) -> Result<Vec<Row>, String> {
    let p = &suite.prepared;
    if let Some(why) = scenario.unavailable() {
        eprintln!("-- {}: {why}", scenario.name());
        return Ok(vec![Row::skipped(scenario.name(), why)]);
    }
    let load = options.load();
    let (m, u) = drive(&p.server, &p.fixture, scenario, load, options.window()).await?;
    let row = Row::measured(
        scenario.name(),
        scenario.unit(),
        load.concurrency,
        None,
        &m,
        u,
    );
    eprintln!(
        "-- {}: {:.0} {}/s, p99 {:.2} ms, {} errors ({})",
        row.scenario, row.rate, row.unit, row.p99_ms, row.errors, suite.label
    );
    let mut rows = vec![row];
    if scenario == Scenario::ClientCredentials && !options.no_half_peak && rows[0].rate > 0.0 {
        let half = Load {
            rate: Some(rows[0].rate / 2.0),
            ..load
        };
        let (m, u) = drive(&p.server, &p.fixture, scenario, half, options.window()).await?;
        // The suite in the label: both suites run this, and the file of one
        // must not overwrite the other's.
        let label = format!("client_credentials @50% peak, {}", suite.label);
        show_timeline(options, &label, &m);
        rows.push(Row::measured(
            "client_credentials @50% peak",
            "req",
            load.concurrency,
            half.rate,
            &m,
            u,
        ));
    }
    Ok(rows)
}

async fn drive(
    server: &Server,
    fixture: &Arc<Fixture>,
    scenario: Scenario,
    load: Load,
    window: Window,
) -> Result<(Measured, Usage), String> {
    let group = spawn_group(scenario, fixture, load, window, 0);
    let usage = watch_server(server, window).await;
    let measured = group
        .await
        .map_err(|e| format!("{}: {e}", scenario.name()))?;
    Ok((measured, usage))
}

/// The ceiling server (`ceiling.rs`) and the fixture aimed at it.
struct Ceiling {
    server: Server,
    fixture: Arc<Fixture>,
    /// Holds the ceiling's log until it is kept beside the results.
    dir: tempfile::TempDir,
}

impl Ceiling {
    async fn start(tessera: &Fixture) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let server = Server::start_ceiling(dir.path()).await?;
        let fixture = Arc::new(tessera.aimed_at(server.addr));
        Ok(Self {
            server,
            fixture,
            dir,
        })
    }

    /// Its floor, then the very token request Tessera was sent.
    async fn measure(&self, options: &Options) -> Result<(Row, Row), String> {
        let floor = self.row(options, Scenario::Floor, "ceiling: floor").await?;
        let token = self
            .row(
                options,
                Scenario::ClientCredentials,
                "ceiling: HTTP work + one signature",
            )
            .await?;
        Ok((floor, token))
    }

    async fn row(&self, options: &Options, scenario: Scenario, name: &str) -> Result<Row, String> {
        let load = options.load();
        let (m, u) = drive(
            &self.server,
            &self.fixture,
            scenario,
            load,
            options.window(),
        )
        .await
        .map_err(|e| format!("ceiling: {e}"))?;
        let row = Row::measured(name, "req", load.concurrency, None, &m, u);
        eprintln!(
            "-- {}: {:.0} req/s, p99 {:.2} ms, {} errors",
            row.scenario, row.rate, row.p99_ms, row.errors
        );
        Ok(row)
    }

    fn stop(self) {
        self.server.keep_log(Path::new("target/bench"), "ceiling");
        if let Err(e) = self.server.stop() {
            eprintln!("warning: ceiling: {e}");
        }
        drop(self.dir);
    }
}

/// Write a paced run's latency timeline beside the JSON and name its stalls.
fn show_timeline(options: &Options, label: &str, m: &Measured) {
    let dir = options.json.parent().unwrap_or(Path::new("."));
    match timeline::write(dir, label, &m.samples) {
        Ok(stalls) if stalls.is_empty() => eprintln!("   {label}: no 100 ms bucket over 20 ms"),
        Ok(stalls) => {
            eprintln!("   {label}: {} stalled 100 ms buckets", stalls.len());
            for s in stalls.iter().take(12) {
                eprintln!("     {s}");
            }
        }
        Err(e) => eprintln!("   {label}: timeline not written: {e}"),
    }
}

/// client_credentials beside a sign-in flood: paced at half of the peak, then
/// closed loop.
async fn isolation(options: &Options, p: &Prepared, peak: f64) -> Result<Vec<Row>, String> {
    let users = options.concurrency.max(1);
    let mut rows = Vec::new();
    for (label, rate) in [
        (
            "client_credentials @50% peak + sign-in flood",
            Some(peak / 2.0),
        ),
        ("client_credentials + sign-in flood", None),
    ] {
        let window = options.window();
        let cc = spawn_group(
            Scenario::ClientCredentials,
            &p.fixture,
            Load {
                concurrency: users,
                rate,
            },
            window,
            0,
        );
        let flood = spawn_group(
            Scenario::SignIn,
            &p.fixture,
            Load {
                concurrency: users,
                rate: None,
            },
            window,
            users,
        );
        let usage = watch_server(&p.server, window).await;
        let cc = cc.await.map_err(|e| format!("isolation: {e}"))?;
        let flood = flood.await.map_err(|e| format!("isolation: {e}"))?;
        if rate.is_some() {
            show_timeline(options, label, &cc);
        }
        eprintln!(
            "-- {label}: token p99 {:.2} ms",
            cc.latency.value_at_quantile(0.99) as f64 / 1000.0
        );
        rows.push(Row::measured(label, "req", users, rate, &cc, usage));
        rows.push(Row::measured(
            &format!(
                "  sign_in flood beside it ({})",
                if rate.is_some() { "paced" } else { "closed" }
            ),
            "sign-ins",
            users,
            None,
            &flood,
            usage,
        ));
    }
    Ok(rows)
}
