//! The targets of issue 7, checked against what this run measured. A target
//! is "met" only if the measured figure meets it as measured (no rounding).

use crate::report::{Baselines, Suite, Target};

/// MB (10^6 bytes), as the issue states its memory targets.
fn mb(mib: f64) -> f64 {
    mib * 1024.0 * 1024.0 / 1e6
}

/// The efficiency ratio issue 7 asks for (also what the time breakdown's
/// "allowed" line is computed from).
pub const EFFICIENCY_GOAL: f64 = 0.8;

pub fn evaluate(suites: &[Suite], baselines: Option<&Baselines>) -> Vec<Target> {
    let Some(empty) = suites.first() else {
        return Vec::new();
    };
    let rate = |name: &str| empty.row(name).map(|r| r.rate);
    let p99 = |name: &str| empty.row(name).map(|r| r.p99_ms);
    let errors: u64 = suites.iter().flat_map(|s| &s.rows).map(|r| r.errors).sum();
    let peak_rss = suites
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.server_peak_rss_mib)
        .fold(0.0, f64::max);
    let ready = suites.iter().map(|s| s.ready_ms).fold(0.0, f64::max);
    vec![
        Target::new(
            "client_credentials efficiency ratio",
            "≥ 0.8",
            baselines.map(|b| {
                let ceiling = b
                    .ceiling
                    .as_ref()
                    .map(|c| format!(" (the ceiling: {:.2})", c.efficiency))
                    .unwrap_or_default();
                (
                    format!("{:.2}{ceiling}", b.efficiency),
                    b.efficiency >= EFFICIENCY_GOAL,
                )
            }),
        ),
        Target::new(
            "errors, every scenario",
            "0",
            Some((errors.to_string(), errors == 0)),
        ),
        Target::new(
            "client_credentials p99 at half of peak load",
            "≤ 5 ms",
            p99("client_credentials @50% peak").map(|v| (format!("{v:.2} ms"), v <= 5.0)),
        ),
        Target::new(
            "authorization-code flows",
            "≥ 2,000 flows/s",
            rate("auth_code_flow").map(|v| (format!("{v:.0} /s"), v >= 2000.0)),
        ),
        Target::new(
            "refresh rotations",
            "≥ 5,000 /s",
            rate("refresh").map(|v| (format!("{v:.0} /s"), v >= 5000.0)),
        ),
        growth(suites),
        postgres_share(suites),
        postgres_rate(suites, "auth_code_flow", "authorization-code flows", 1000.0),
        postgres_rate(suites, "refresh", "refresh rotations", 2500.0),
        Target::new(
            "token p99 under a sign-in flood (paced at half of peak)",
            "≤ 10 ms",
            p99("client_credentials @50% peak + sign-in flood")
                .map(|v| (format!("{v:.2} ms"), v <= 10.0)),
        ),
        Target::new(
            "idle RSS",
            "≤ 20 MB",
            Some((
                format!("{:.1} MB", mb(empty.idle_rss_mib)),
                mb(empty.idle_rss_mib) <= 20.0,
            )),
        ),
        Target::new(
            "RSS under full load (peak)",
            "≤ 64 MB",
            Some((format!("{:.1} MB", mb(peak_rss)), mb(peak_rss) <= 64.0)),
        ),
        Target::new(
            "ready after start, existing database",
            "≤ 200 ms",
            Some((format!("{ready:.0} ms"), ready <= 200.0)),
        ),
    ]
}

fn postgres(suites: &[Suite]) -> Option<&Suite> {
    suites.iter().find(|s| s.label == crate::POSTGRES)
}

/// client_credentials on PostgreSQL against SQLite's, in the same run (issue 20).
fn postgres_share(suites: &[Suite]) -> Target {
    let rate = |s: Option<&Suite>| s.and_then(|s| s.row("client_credentials")).map(|r| r.rate);
    let ratio = rate(postgres(suites))
        .zip(rate(suites.first()))
        .map(|(pg, sqlite)| pg / sqlite);
    Target::new(
        "client_credentials on PostgreSQL",
        "≥ 0.7× SQLite",
        ratio.map(|r| (format!("{r:.2}× SQLite"), r >= 0.7)),
    )
}

/// A closed-loop rate on PostgreSQL (issue 20).
fn postgres_rate(suites: &[Suite], scenario: &str, what: &str, goal: f64) -> Target {
    let rate = postgres(suites)
        .and_then(|s| s.row(scenario))
        .map(|r| r.rate);
    Target::new(
        &format!("{what} on PostgreSQL"),
        &format!("≥ {goal:.0} /s"),
        rate.map(|v| (format!("{v:.0} /s"), v >= goal)),
    )
}

/// Every closed-loop rate on the grown database within 15% of the empty one.
fn growth(suites: &[Suite]) -> Target {
    let grown = suites.iter().find(|s| s.preload.is_some());
    let (Some(empty), Some(grown)) = (suites.first(), grown) else {
        return Target::new(
            "rates with 1M clients + 1M families preloaded",
            "within 15% of empty",
            None,
        );
    };
    let worst = grown
        .rows
        .iter()
        .filter(|r| r.skipped.is_none() && r.target_rate.is_none())
        .filter_map(|r| {
            empty
                .row(&r.scenario)
                .map(|e| (r.scenario.clone(), r.rate / e.rate))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1));
    Target::new(
        &format!(
            "rates with {} preloaded",
            grown.label.trim_start_matches("preloaded: ")
        ),
        "within 15% of empty",
        worst.map(|(name, ratio)| (format!("worst: {name} at {ratio:.2}× empty"), ratio >= 0.85)),
    )
}
