//! Results: one row per measured scenario, the suites they belong to, the
//! baselines and the targets, rendered as Markdown (stdout) and JSON.

use serde::Serialize;

use crate::breakdown::Breakdown;
use crate::driver::{Measured, Usage};

/// One measured (or skipped) scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub unit: String,
    pub concurrency: usize,
    /// The paced rate asked for, if the users were paced.
    pub target_rate: Option<f64>,
    /// `null` when measured; otherwise why not.
    pub skipped: Option<String>,
    pub steps: u64,
    pub rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    pub server_cpu_seconds: f64,
    /// Server CPU per step, in microseconds.
    pub server_cpu_us_per_step: f64,
    pub server_peak_rss_mib: f64,
    pub server_threads: u64,
    pub generator_cpu_seconds: f64,
    /// CPU used by other processes on the machine during the window (noise).
    pub other_cpu_seconds: f64,
}

impl Row {
    pub fn measured(
        scenario: &str,
        unit: &str,
        concurrency: usize,
        target_rate: Option<f64>,
        m: &Measured,
        u: Usage,
    ) -> Self {
        let ms = |q: f64| m.latency.value_at_quantile(q) as f64 / 1000.0;
        let rate = m.steps as f64 / m.seconds;
        Self {
            scenario: scenario.to_owned(),
            unit: unit.to_owned(),
            concurrency,
            target_rate,
            skipped: None,
            steps: m.steps,
            rate,
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            max_ms: m.latency.max() as f64 / 1000.0,
            errors: m.errors,
            first_errors: m.first_errors.clone(),
            server_cpu_seconds: u.cpu_seconds,
            server_cpu_us_per_step: if m.steps > 0 {
                u.cpu_seconds * 1e6 / m.steps as f64
            } else {
                0.0
            },
            server_peak_rss_mib: u.peak_rss_kib as f64 / 1024.0,
            server_threads: u.threads,
            generator_cpu_seconds: u.generator_cpu_seconds,
            other_cpu_seconds: u.other_cpu_seconds,
        }
    }

    pub fn skipped(scenario: &str, why: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            unit: String::new(),
            concurrency: 0,
            target_rate: None,
            skipped: Some(why.to_owned()),
            steps: 0,
            rate: 0.0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
            errors: 0,
            first_errors: Vec::new(),
            server_cpu_seconds: 0.0,
            server_cpu_us_per_step: 0.0,
            server_peak_rss_mib: 0.0,
            server_threads: 0,
            generator_cpu_seconds: 0.0,
            other_cpu_seconds: 0.0,
        }
    }
}

/// The in-run baselines and the efficiency ratio of issue 7.
#[derive(Debug, Clone, Serialize)]
pub struct Baselines {
    pub floor_rate: f64,
    pub es256_signs_per_second_one_core: f64,
    pub cores: usize,
    /// 1 / (1/floor + 1/(signing × cores)).
    pub ideal_client_credentials_rate: f64,
    pub client_credentials_rate: f64,
    pub efficiency: f64,
    /// Where a token's time went against the ideal (when the rows were measured).
    pub breakdown: Option<Breakdown>,
    /// The same model applied to a server that does only the HTTP work and
    /// one signature (`ceiling.rs`), measured in the same run.
    pub ceiling: Option<CeilingRows>,
}

/// The ceiling's two windows and where they stand against the model.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingRows {
    pub floor: Row,
    pub token: Row,
    /// 1 / (1/the ceiling's floor + 1/(signing × cores)).
    pub ideal_rate: f64,
    /// The ceiling's token rate over its ideal: the most any token path
    /// could reach on this machine with this harness.
    pub efficiency: f64,
    /// client_credentials' rate over the ceiling's token rate: what the
    /// token path's own work (client authentication, limits, claims, audit)
    /// leaves of the ceiling.
    pub client_credentials_share: f64,
    pub breakdown: Breakdown,
}

impl CeilingRows {
    pub fn new(floor: Row, token: Row, signing_rate: f64, cores: usize, cc_rate: f64) -> Self {
        let ideal_rate = ideal(floor.rate, signing_rate, cores);
        Self {
            ideal_rate,
            efficiency: token.rate / ideal_rate,
            client_credentials_share: cc_rate / token.rate,
            breakdown: Breakdown::new(&floor, &token, signing_rate, cores),
            floor,
            token,
        }
    }
}

/// The efficiency model's ideal token rate: a token is the floor's HTTP work
/// plus one signature, on `cores` cores.
fn ideal(floor_rate: f64, signing_rate: f64, cores: usize) -> f64 {
    1.0 / (1.0 / floor_rate + 1.0 / (signing_rate * cores as f64))
}

impl Baselines {
    pub fn new(floor_rate: f64, signing_rate: f64, cores: usize, cc_rate: f64) -> Self {
        let ideal = ideal(floor_rate, signing_rate, cores);
        Self {
            floor_rate,
            es256_signs_per_second_one_core: signing_rate,
            cores,
            ideal_client_credentials_rate: ideal,
            client_credentials_rate: cc_rate,
            efficiency: cc_rate / ideal,
            breakdown: None,
            ceiling: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PreloadInfo {
    pub clients: usize,
    pub families: usize,
    pub seconds: f64,
    pub database_mib: f64,
}

/// Everything measured against one server (one database).
#[derive(Debug, Clone, Serialize)]
pub struct Suite {
    pub label: String,
    pub first_start_ready_ms: f64,
    pub ready_ms: f64,
    pub idle_rss_mib: f64,
    pub preload: Option<PreloadInfo>,
    pub rows: Vec<Row>,
}

impl Suite {
    pub fn row(&self, scenario: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.skipped.is_none())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub what: String,
    pub target: String,
    pub measured: String,
    /// "met", "NOT met" or "not measured".
    pub verdict: String,
}

impl Target {
    pub fn new(what: &str, target: &str, measured: Option<(String, bool)>) -> Self {
        let (measured, verdict) = match measured {
            Some((m, true)) => (m, "met"),
            Some((m, false)) => (m, "NOT met"),
            None => ("—".to_owned(), "not measured"),
        };
        Self {
            what: what.to_owned(),
            target: target.to_owned(),
            measured,
            verdict: verdict.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    pub kernel: String,
}

impl Machine {
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(key)
                        .and_then(|r| r.split_once(':'))
                        .map(|(_, v)| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let memory_kib: u64 = field(&meminfo, "MemTotal")
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Self {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model: field(&cpuinfo, "model name"),
            memory_mib: memory_kib / 1024,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub concurrency: usize,
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub client_threads: usize,
    pub smoke: bool,
}

/// The whole report, as written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub suites: Vec<Suite>,
    pub baselines: Option<Baselines>,
    pub targets: Vec<Target>,
}

impl Report {
    pub fn errors(&self) -> u64 {
        let ceiling = self.baselines.iter().flat_map(|b| &b.ceiling);
        let ceiling_rows = ceiling.flat_map(|c| [&c.floor, &c.token]);
        self.suites
            .iter()
            .flat_map(|s| &s.rows)
            .chain(ceiling_rows)
            .map(|r| r.errors)
            .sum()
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        out.push_str(&format!(
            "Machine: {} cores, {}, {} MiB, Linux {}. Load: {} users, {} s measured after {} s warm-up, {} client thread(s).\n\n",
            m.nproc, m.cpu_model, m.memory_mib, m.kernel, self.settings.concurrency, self.settings.seconds,
            self.settings.warmup_seconds, self.settings.client_threads
        ));
        for suite in &self.suites {
            suite_markdown(&mut out, suite);
        }
        if let Some(b) = &self.baselines {
            baselines_markdown(&mut out, b);
        }
        if self.suites.len() > 1 {
            growth_markdown(&mut out, &self.suites[0], &self.suites[1]);
        }
        if !self.targets.is_empty() {
            out.push_str("### Targets (issues 7 and 20)\n\n| target | goal | measured | verdict |\n| --- | --- | --- | --- |\n");
            for t in &self.targets {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    t.what, t.target, t.measured, t.verdict
                ));
            }
            out.push('\n');
        }
        out
    }
}

fn suite_markdown(out: &mut String, s: &Suite) {
    out.push_str(&format!("### {}\n\n", s.label));
    if let Some(p) = &s.preload {
        out.push_str(&format!(
            "Preloaded {} clients and {} refresh-token families in {:.1} s (database {:.0} MiB).\n",
            p.clients, p.families, p.seconds, p.database_mib
        ));
    }
    out.push_str(&format!(
        "Server: ready {:.0} ms after spawn on first start, {:.0} ms on the existing database; idle RSS {:.1} MiB.\n\n",
        s.first_start_ready_ms, s.ready_ms, s.idle_rss_mib
    ));
    rows_markdown(out, &s.rows);
}

/// The scenario table, one line per row, and the errors of each row that had any.
fn rows_markdown<'a>(out: &mut String, rows: impl IntoIterator<Item = &'a Row> + Clone) {
    out.push_str("| scenario | users | rate /s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU s | CPU µs/step | peak RSS MiB | threads | generator CPU s | other CPU s |\n");
    out.push_str(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows.clone() {
        match &r.skipped {
            Some(why) => out.push_str(&format!("| {} | {why} | | | | | | | | | | | | |\n", r.scenario)),
            None => out.push_str(&format!(
                "| {} | {}{} | {:.0} {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.0} | {:.1} | {} | {:.2} | {:.2} |\n",
                r.scenario,
                r.concurrency,
                r.target_rate.map(|t| format!(" @{t:.0}/s")).unwrap_or_default(),
                r.rate,
                r.unit,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.max_ms,
                r.errors,
                r.server_cpu_seconds,
                r.server_cpu_us_per_step,
                r.server_peak_rss_mib,
                r.server_threads,
                r.generator_cpu_seconds,
                r.other_cpu_seconds
            )),
        }
    }
    out.push('\n');
    for r in rows.into_iter().filter(|r| r.errors > 0) {
        out.push_str(&format!(
            "Errors in {}: {}\n",
            r.scenario,
            r.first_errors.join(" | ")
        ));
    }
}

fn baselines_markdown(out: &mut String, b: &Baselines) {
    out.push_str(&format!(
        "### Baselines (same run)\n\n\
         - HTTP floor (`GET /health/live`): {:.0} req/s\n\
         - ES256 signatures on one core (in process, `tessera::keys::Signer`): {:.0} /s\n\
         - ideal client_credentials rate = 1 / (1/floor + 1/(signing × {} cores)) = {:.0} /s\n\
         - measured client_credentials: {:.0} /s → **efficiency {:.2}**\n\n",
        b.floor_rate,
        b.es256_signs_per_second_one_core,
        b.cores,
        b.ideal_client_credentials_rate,
        b.client_credentials_rate,
        b.efficiency
    ));
    if let Some(breakdown) = &b.breakdown {
        breakdown.markdown(out);
    }
    if let Some(c) = &b.ceiling {
        ceiling_markdown(out, c, b.client_credentials_rate);
    }
}

fn ceiling_markdown(out: &mut String, c: &CeilingRows, cc_rate: f64) {
    out.push_str(
        "### The ceiling (same run)\n\n\
         A server that does only a token request's HTTP work and one signature (Tessera's serving code, \
         no middleware, store or audit; `benches/load/ceiling.rs`), sent the same requests:\n\n",
    );
    rows_markdown(out, [&c.floor, &c.token]);
    out.push_str(&format!(
        "- ideal rate = 1 / (1/its floor + 1/(signing × cores)) = {:.0} /s; measured {:.0} /s → \
         **ceiling efficiency {:.2}**: the most a token path reaches against the model on this machine\n\
         - client_credentials ({:.0} /s) reached **{:.2}** of the ceiling's rate\n\n",
        c.ideal_rate, c.token.rate, c.efficiency, cc_rate, c.client_credentials_share
    ));
    c.breakdown.markdown(out);
}

fn growth_markdown(out: &mut String, empty: &Suite, grown: &Suite) {
    out.push_str(&format!("### Data growth: {} vs {}\n\n| scenario | empty /s | grown /s | ratio |\n| --- | ---: | ---: | ---: |\n", grown.label, empty.label));
    for r in grown
        .rows
        .iter()
        .filter(|r| r.skipped.is_none() && r.target_rate.is_none())
    {
        if let Some(e) = empty.row(&r.scenario) {
            out.push_str(&format!(
                "| {} | {:.0} | {:.0} | {:.2} |\n",
                r.scenario,
                e.rate,
                r.rate,
                r.rate / e.rate
            ));
        }
    }
    out.push('\n');
}
