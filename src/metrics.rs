//! Prometheus metrics, kept in memory and rendered as text exposition format.
//!
//! Request counts and latency histograms per (route, status), tokens issued
//! per grant type, rate-limited requests per limiter, registrations, and the
//! audit backlog. Recording takes one short uncontended lock; rendering happens
//! only when `/metrics` is scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, &'static str, u16), Series>>,
    tokens: Mutex<BTreeMap<&'static str, u64>>,
    limited: Mutex<BTreeMap<&'static str, u64>>,
    registrations: AtomicU64,
    audit_backlog: AtomicI64,
}

impl Metrics {
    pub fn observe_request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let Ok(mut map) = self.http.lock() else {
            return;
        };
        let key = (route.to_owned(), method, status);
        let s = map.entry(key).or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn token_issued(&self, grant_type: &'static str) {
        if let Ok(mut map) = self.tokens.lock() {
            *map.entry(grant_type).or_default() += 1;
        }
    }

    pub fn rate_limited(&self, limiter: &'static str) {
        if let Ok(mut map) = self.limited.lock() {
            *map.entry(limiter).or_default() += 1;
        }
    }

    pub fn registered(&self) {
        self.registrations.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_audit_backlog(&self, n: i64) {
        self.audit_backlog.store(n, Ordering::Relaxed);
    }

    pub fn add_audit_backlog(&self, delta: i64) {
        self.audit_backlog.fetch_add(delta, Ordering::Relaxed);
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_http(&mut out);
        out.push_str("# HELP tessera_tokens_issued_total Access tokens issued, by grant type.\n");
        out.push_str("# TYPE tessera_tokens_issued_total counter\n");
        for (grant, n) in self.tokens.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "tessera_tokens_issued_total{{grant_type=\"{grant}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP tessera_rate_limited_total Requests refused by a rate limit, by limiter.\n",
        );
        out.push_str("# TYPE tessera_rate_limited_total counter\n");
        for (limiter, n) in self.limited.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "tessera_rate_limited_total{{limiter=\"{limiter}\"}} {n}"
            );
        }
        let regs = self.registrations.load(Ordering::Relaxed);
        out.push_str("# HELP tessera_registrations_total Clients registered through /register.\n");
        let _ = writeln!(
            out,
            "# TYPE tessera_registrations_total counter\ntessera_registrations_total {regs}"
        );
        let backlog = self.audit_backlog.load(Ordering::Relaxed);
        out.push_str("# HELP tessera_audit_backlog Audit events accepted but not yet written to the database.\n");
        let _ = writeln!(
            out,
            "# TYPE tessera_audit_backlog gauge\ntessera_audit_backlog {backlog}"
        );
        out
    }

    fn render_http(&self, out: &mut String) {
        let Ok(map) = self.http.lock() else { return };
        out.push_str(
            "# HELP tessera_http_requests_total HTTP requests, by route, method and status.\n",
        );
        out.push_str("# TYPE tessera_http_requests_total counter\n");
        for ((route, method, status), s) in map.iter() {
            let _ = writeln!(
                out,
                "tessera_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str(
            "# HELP tessera_http_request_duration_seconds HTTP request latency, by route.\n",
        );
        out.push_str("# TYPE tessera_http_request_duration_seconds histogram\n");
        let mut per_route: BTreeMap<&str, Series> = BTreeMap::new();
        for ((route, _, _), s) in map.iter() {
            let r = per_route.entry(route.as_str()).or_default();
            r.count += s.count;
            r.sum += s.sum;
            for (a, b) in r.buckets.iter_mut().zip(s.buckets) {
                *a += b;
            }
        }
        for (route, s) in per_route {
            let name = "tessera_http_request_duration_seconds";
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", s.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", s.count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counts_add_up() {
        let m = Metrics::default();
        m.observe_request("/token", "POST", 200, 0.002);
        m.observe_request("/token", "POST", 401, 0.0004);
        m.token_issued("client_credentials");
        let text = m.render();
        assert!(text.contains(
            "tessera_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"/token\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"/token\",le=\"0.0025\"} 2"
        ));
        assert!(text.contains("tessera_http_request_duration_seconds_count{route=\"/token\"} 2"));
        assert!(text.contains("tessera_tokens_issued_total{grant_type=\"client_credentials\"} 1"));
    }
}
