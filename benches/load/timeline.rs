//! Latency over time for paced runs: where in the window the slow steps were
//! due. A p99 set by one stall and a p99 set by a steady queue look the same
//! in a histogram; in 100 ms buckets they do not.

use std::fmt::Write as _;
use std::path::Path;

/// Bucket width in milliseconds.
const BUCKET_MS: u32 = 100;

/// A bucket whose slowest step took this long is reported as a stall.
const STALL_US: u32 = 20_000;

/// Write `timeline-<label>.csv` (bucket start ms, steps, p50 µs, p99 µs, max
/// µs) beside the JSON results, and return the stalls, one line each.
pub fn write(dir: &Path, label: &str, samples: &[(u32, u32)]) -> Result<Vec<String>, String> {
    let mut buckets: Vec<Vec<u32>> = Vec::new();
    for &(at, micros) in samples {
        let i = (at / BUCKET_MS) as usize;
        if buckets.len() <= i {
            buckets.resize_with(i + 1, Vec::new);
        }
        buckets[i].push(micros);
    }
    let mut csv = String::from("bucket_start_ms,steps,p50_us,p99_us,max_us\n");
    let mut stalls = Vec::new();
    for (i, bucket) in buckets.iter_mut().enumerate() {
        bucket.sort_unstable();
        let q = |f: f64| {
            bucket
                .get(((bucket.len() as f64 - 1.0) * f) as usize)
                .copied()
        };
        let (p50, p99, max) = (q(0.5), q(0.99), bucket.last().copied());
        let start = i as u32 * BUCKET_MS;
        let _ = writeln!(
            csv,
            "{start},{},{},{},{}",
            bucket.len(),
            p50.unwrap_or(0),
            p99.unwrap_or(0),
            max.unwrap_or(0)
        );
        if let Some(max) = max.filter(|m| *m >= STALL_US) {
            let slow = bucket.iter().filter(|m| **m >= STALL_US).count();
            stalls.push(format!(
                "{start} ms: max {:.1} ms, {slow} of {} steps over {} ms",
                max as f64 / 1000.0,
                bucket.len(),
                STALL_US / 1000
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let slug: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("timeline-{slug}.csv"));
    std::fs::write(&path, csv).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(stalls)
}
