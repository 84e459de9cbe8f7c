//! Where a client_credentials token's CPU goes, measured against the model
//! behind the efficiency ratio (issue 7): a token request is the floor's HTTP
//! work plus one signature. Whatever the run spent per token beyond those two
//! is its distance from the ideal, split here by who spent it, so every run
//! says where the missing ratio is instead of leaving it to a profiler.
//!
//! All figures are core-microseconds per request: the machine's cores times
//! the window, divided by the requests served. They add up exactly: the
//! token's total is the floor's total, plus one signature, plus the parts
//! "beyond".

use serde::Serialize;

use crate::report::Row;
use crate::targets::EFFICIENCY_GOAL;

#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    /// cores / client_credentials rate.
    pub total_us: f64,
    /// cores / floor rate: the floor's server, generator, other and idle time.
    pub floor_us: f64,
    /// 1 / the signing baseline's rate on one core.
    pub signature_us: f64,
    /// Server CPU per token beyond the floor's per request and one signature.
    pub server_beyond_us: f64,
    /// Generator CPU per token beyond its CPU per floor request.
    pub generator_beyond_us: f64,
    /// Other processes' CPU per token beyond theirs per floor request.
    pub other_beyond_us: f64,
    /// Idle core time per token beyond the floor's idle time per request.
    pub idle_beyond_us: f64,
    /// The total that an efficiency of 0.8 allows: (floor + signature) / 0.8.
    pub allowed_at_0_8_us: f64,
}

/// One row's time per step, split by who spent it.
struct PerStep {
    server: f64,
    generator: f64,
    other: f64,
    idle: f64,
}

fn per_step(row: &Row, cores: f64) -> PerStep {
    let steps = row.steps.max(1) as f64;
    let window = if row.rate > 0.0 {
        row.steps as f64 / row.rate
    } else {
        0.0
    };
    let busy = row.server_cpu_seconds + row.generator_cpu_seconds + row.other_cpu_seconds;
    let micros = |seconds: f64| seconds * 1e6 / steps;
    PerStep {
        server: micros(row.server_cpu_seconds),
        generator: micros(row.generator_cpu_seconds),
        other: micros(row.other_cpu_seconds),
        idle: micros((cores * window - busy).max(0.0)),
    }
}

impl Breakdown {
    pub fn new(floor: &Row, token: &Row, signing_rate: f64, cores: usize) -> Self {
        let cores = cores as f64;
        let (f, t) = (per_step(floor, cores), per_step(token, cores));
        let floor_us = f.server + f.generator + f.other + f.idle;
        let signature_us = 1e6 / signing_rate.max(1e-9);
        Self {
            total_us: t.server + t.generator + t.other + t.idle,
            floor_us,
            signature_us,
            server_beyond_us: t.server - f.server - signature_us,
            generator_beyond_us: t.generator - f.generator,
            other_beyond_us: t.other - f.other,
            idle_beyond_us: t.idle - f.idle,
            allowed_at_0_8_us: (floor_us + signature_us) / EFFICIENCY_GOAL,
        }
    }

    pub fn markdown(&self, out: &mut String) {
        out.push_str(
            "Where a token request's time goes (core-µs per request, all cores, idle included):\n\n\
             | part | µs |\n| --- | ---: |\n",
        );
        let rows = [
            (
                "the floor's HTTP work (all of it, as the floor measured it)",
                self.floor_us,
            ),
            ("one signature (the baseline)", self.signature_us),
            (
                "server, beyond the floor's and one signature",
                self.server_beyond_us,
            ),
            ("generator, beyond its floor cost", self.generator_beyond_us),
            ("other processes, beyond the floor's", self.other_beyond_us),
            ("idle cores, beyond the floor's", self.idle_beyond_us),
        ];
        for (part, us) in rows {
            out.push_str(&format!("| {part} | {us:.1} |\n"));
        }
        out.push_str(&format!(
            "| **total** (cores / rate) | **{:.1}** |\n| what an efficiency of 0.8 allows | {:.1} |\n\n",
            self.total_us, self.allowed_at_0_8_us
        ));
    }
}
