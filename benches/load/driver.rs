//! Driving load: virtual users, each on its own keep-alive connection, run a
//! scenario step in a loop through a warm-up and then a measured window.
//!
//! Closed loop by default (each user sends its next request when the previous
//! one is answered). With a target rate the users are paced instead, and the
//! latency of a step is measured from when it was *due*, not from when it was
//! sent, so a stalled server shows up in the tail (no coordinated omission).
//! Only steps that start and finish inside the measured window count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::scenarios::{Fixture, Scenario, VirtualUser};
use crate::server::{Server, machine_busy_seconds, own_cpu_seconds};

/// The warm-up start, the measured window's start, and its end.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub measure_from: Instant,
    pub until: Instant,
}

impl Window {
    pub fn new(warmup: Duration, measure: Duration) -> Self {
        let start = Instant::now();
        Self {
            start,
            measure_from: start + warmup,
            until: start + warmup + measure,
        }
    }

    pub fn measured(&self) -> Duration {
        self.until - self.measure_from
    }
}

/// How one group of users runs a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    /// Total steps per second for the group; `None` = closed loop.
    pub rate: Option<f64>,
}

/// What one group measured.
pub struct Measured {
    pub steps: u64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    /// Step latency in microseconds.
    pub latency: Histogram<u64>,
    pub seconds: f64,
    /// Paced runs only: (ms into the window the step was due, latency in µs),
    /// so a stall can be placed in time (see `timeline`).
    pub samples: Vec<(u32, u32)>,
}

/// What the server used during the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    /// Server threads at the end of the window.
    pub threads: u64,
    /// CPU seconds the load generator used.
    pub generator_cpu_seconds: f64,
    /// CPU seconds used by everything else on the machine (noise).
    pub other_cpu_seconds: f64,
}

const KEEP_ERRORS: usize = 5;

#[allow(
    clippy::expect_used,
    reason = "the bounds are constants that hdrhistogram accepts"
)]
pub fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid")
}

/// Start `load.concurrency` users of `scenario` over `window`.
pub fn spawn_group(
    scenario: Scenario,
    fixture: &Arc<Fixture>,
    load: Load,
    window: Window,
    first_user: usize,
) -> tokio::task::JoinHandle<Measured> {
    let users: Vec<_> = (0..load.concurrency)
        .map(|i| {
            let vu = VirtualUser::new(first_user + i, fixture.clone());
            let pace = load
                .rate
                .map(|r| Pace::new(r, load.concurrency, i, window.start));
            tokio::spawn(run_user(scenario, vu, pace, window))
        })
        .collect();
    tokio::spawn(async move {
        let mut total = Measured {
            steps: 0,
            errors: 0,
            first_errors: Vec::new(),
            latency: histogram(),
            seconds: window.measured().as_secs_f64(),
            samples: Vec::new(),
        };
        for user in users {
            match user.await {
                Ok(m) => merge(&mut total, m),
                Err(e) => note_error(&mut total, format!("a virtual user panicked: {e}")),
            }
        }
        total
    })
}

fn merge(total: &mut Measured, m: Measured) {
    total.steps += m.steps;
    total.errors += m.errors;
    for e in m.first_errors {
        if total.first_errors.len() < KEEP_ERRORS {
            total.first_errors.push(e);
        }
    }
    let _ = total.latency.add(&m.latency);
    total.samples.extend(m.samples);
}

fn note_error(m: &mut Measured, e: String) {
    m.errors += 1;
    if m.first_errors.len() < KEEP_ERRORS {
        m.first_errors.push(e);
    }
}

/// When a paced user's next step is due.
struct Pace {
    interval: Duration,
    next: Instant,
}

impl Pace {
    fn new(rate: f64, users: usize, index: usize, start: Instant) -> Self {
        let interval = Duration::from_secs_f64(users as f64 / rate.max(0.001));
        // Spread the users evenly over one interval.
        let next = start + interval.mul_f64(index as f64 / users as f64);
        Self { interval, next }
    }
}

async fn run_user(
    scenario: Scenario,
    mut vu: VirtualUser,
    mut pace: Option<Pace>,
    w: Window,
) -> Measured {
    let mut m = Measured {
        steps: 0,
        errors: 0,
        first_errors: Vec::new(),
        latency: histogram(),
        seconds: w.measured().as_secs_f64(),
        samples: Vec::new(),
    };
    loop {
        let due = match pace.as_mut() {
            Some(p) => {
                let due = p.next;
                p.next += p.interval;
                tokio::time::sleep_until(due.into()).await;
                due
            }
            None => Instant::now(),
        };
        if due >= w.until {
            break;
        }
        let result = scenario.step(&mut vu).await;
        let done = Instant::now();
        if let Err(e) = result {
            // Errors count whenever they happen, warm-up included.
            note_error(&mut m, format!("{}: {e}", scenario.name()));
            // A dead server must not turn this loop into a busy spin.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        if due >= w.measure_from && done <= w.until {
            m.steps += 1;
            let micros = (done - due).as_micros().max(1) as u64;
            m.latency.saturating_record(micros);
            if pace.is_some() {
                let at = (due - w.measure_from).as_millis() as u32;
                m.samples.push((at, micros.min(u32::MAX as u64) as u32));
            }
        }
    }
    m
}

/// Samples the server while a window runs: CPU at both ends, peak RSS.
pub async fn watch_server(server: &Server, window: Window) -> Usage {
    tokio::time::sleep_until(window.measure_from.into()).await;
    let reset = server.reset_peak_rss();
    let cpu_before = server.cpu_seconds();
    let (own_before, busy_before) = (own_cpu_seconds(), machine_busy_seconds());
    let mut peak = server.rss_kib();
    while Instant::now() < window.until {
        let left = window.until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
        peak = peak.max(server.rss_kib());
    }
    let cpu_seconds = server.cpu_seconds() - cpu_before;
    let generator_cpu_seconds = own_cpu_seconds() - own_before;
    let other_cpu_seconds =
        (machine_busy_seconds() - busy_before - cpu_seconds - generator_cpu_seconds).max(0.0);
    // VmHWM catches peaks between samples, when it could be reset for this window.
    let peak_rss_kib = if reset {
        peak.max(server.peak_rss_kib())
    } else {
        peak
    };
    Usage {
        cpu_seconds,
        peak_rss_kib,
        threads: server.threads(),
        generator_cpu_seconds,
        other_cpu_seconds,
    }
}
