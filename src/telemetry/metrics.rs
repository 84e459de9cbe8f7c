//! Prometheus metrics, kept in memory and rendered as text exposition format.
//!
//! Request counts and latency histograms per (route, status), tokens issued
//! per grant type, rate-limited requests per limiter, registrations, and the
//! audit backlog. Recording takes one short uncontended lock and, once a
//! series exists, allocates nothing; rendering happens only when `/metrics` is
//! scraped.

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

/// One route's series, by (method, status).
type RouteSeries = BTreeMap<(&'static str, u16), Series>;

#[derive(Default)]
pub struct Metrics {
    /// Route, then (method, status): a request is counted under its route's
    /// template without allocating a key once the series exists.
    http: Mutex<BTreeMap<String, RouteSeries>>,
    tokens: Mutex<BTreeMap<&'static str, u64>>,
    limited: Mutex<BTreeMap<&'static str, u64>>,
    registrations: AtomicU64,
    /// Registrations removed, by who removed them.
    removed: Mutex<BTreeMap<&'static str, u64>>,
    /// Failed sign-ins, by reason.
    sign_in_failures: Mutex<BTreeMap<&'static str, u64>>,
    refresh_reuse: AtomicU64,
    audit_backlog: AtomicI64,
    /// The audit table's rows and bytes, as last measured.
    audit_rows: AtomicI64,
    audit_bytes: AtomicI64,
}

/// Add `n` to the counter `key` of `map`.
fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str, n: u64) {
    if let Ok(mut map) = map.lock() {
        *map.entry(key).or_default() += n;
    }
}

/// One counter family with a label: HELP, TYPE, a line per label value.
fn write_labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    map: &Mutex<BTreeMap<&'static str, u64>>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value, n) in map.lock().map(|m| m.clone()).unwrap_or_default() {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

/// One unlabelled sample with its HELP and TYPE.
fn write_one(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

impl Metrics {
    pub fn observe_request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let Ok(mut map) = self.http.lock() else {
            return;
        };
        let series = match map.get_mut(route) {
            Some(series) => series,
            None => map.entry(route.to_owned()).or_default(),
        };
        let s = series.entry((method, status)).or_default();
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

    /// `n` registrations removed, `by` the client itself (RFC 7592) or the
    /// janitor (`unused`).
    pub fn registrations_removed(&self, by: &'static str, n: u64) {
        bump(&self.removed, by, n);
    }

    /// A failed sign-in: `unknown_user`, `wrong_password` or `locked_out`.
    pub fn sign_in_failed(&self, reason: &'static str) {
        bump(&self.sign_in_failures, reason, 1);
    }

    pub fn refresh_reuse_detected(&self) {
        self.refresh_reuse.fetch_add(1, Ordering::Relaxed);
    }

    /// The audit table's size, measured when `/metrics` is scraped.
    pub fn set_audit_size(&self, rows: i64, bytes: i64) {
        self.audit_rows.store(rows, Ordering::Relaxed);
        self.audit_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn set_audit_backlog(&self, n: i64) {
        self.audit_backlog.store(n, Ordering::Relaxed);
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
        write_labelled(
            &mut out,
            "tessera_registrations_removed_total",
            "Clients removed, by who removed them (client: RFC 7592 delete; unused: pruned).",
            "by",
            &self.removed,
        );
        write_labelled(
            &mut out,
            "tessera_sign_in_failures_total",
            "Failed sign-ins, by reason.",
            "reason",
            &self.sign_in_failures,
        );
        write_one(
            &mut out,
            "tessera_refresh_reuse_detected_total",
            "counter",
            "Spent refresh tokens presented again (their family was revoked).",
            self.refresh_reuse.load(Ordering::Relaxed),
        );
        let backlog = self.audit_backlog.load(Ordering::Relaxed);
        out.push_str("# HELP tessera_audit_backlog Audit events accepted but not yet written to the database.\n");
        let _ = writeln!(
            out,
            "# TYPE tessera_audit_backlog gauge\ntessera_audit_backlog {backlog}"
        );
        write_one(
            &mut out,
            "tessera_audit_records",
            "gauge",
            "Records in the audit trail.",
            self.audit_rows.load(Ordering::Relaxed),
        );
        write_one(
            &mut out,
            "tessera_audit_bytes",
            "gauge",
            "Bytes the audit trail's records take, estimated from the newest 1,000 (what audit.max_size bounds).",
            self.audit_bytes.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP tessera_build_info Tessera's version, commit and features.\n# TYPE tessera_build_info gauge\n\
             tessera_build_info{{version=\"{}\",commit=\"{}\",features=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            env!("TESSERA_COMMIT"),
            super::FEATURES,
        );
        super::process::render(&mut out);
        out
    }

    fn render_http(&self, out: &mut String) {
        let Ok(map) = self.http.lock() else { return };
        out.push_str(
            "# HELP tessera_http_requests_total HTTP requests, by route, method and status.\n",
        );
        out.push_str("# TYPE tessera_http_requests_total counter\n");
        let all = map.iter().flat_map(|(route, series)| {
            series
                .iter()
                .map(move |((method, status), s)| (route, method, status, s))
        });
        for (route, method, status, s) in all {
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
        for (route, series) in map.iter() {
            let mut s = Series::default();
            for one in series.values() {
                s.count += one.count;
                s.sum += one.sum;
                for (a, b) in s.buckets.iter_mut().zip(one.buckets) {
                    *a += b;
                }
            }
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

    #[test]
    fn series_are_listed_by_route_then_method_and_status_and_summed_per_route() {
        let m = Metrics::default();
        m.observe_request("/token", "POST", 400, 0.001);
        m.observe_request("/jwks.json", "GET", 200, 0.001);
        m.observe_request("/token", "POST", 200, 0.001);
        m.observe_request("/token", "OPTIONS", 204, 0.001);
        m.observe_request("/token", "POST", 200, 0.001);
        let text = m.render();
        let counts: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("tessera_http_requests_total{"))
            .collect();
        assert_eq!(
            counts,
            [
                "tessera_http_requests_total{route=\"/jwks.json\",method=\"GET\",status=\"200\"} 1",
                "tessera_http_requests_total{route=\"/token\",method=\"OPTIONS\",status=\"204\"} 1",
                "tessera_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 2",
                "tessera_http_requests_total{route=\"/token\",method=\"POST\",status=\"400\"} 1",
            ]
        );
        assert!(text.contains("tessera_http_request_duration_seconds_count{route=\"/token\"} 4"));
        assert!(
            text.contains("tessera_http_request_duration_seconds_count{route=\"/jwks.json\"} 1")
        );
    }
}
