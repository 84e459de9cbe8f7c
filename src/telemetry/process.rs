//! The process's own metrics, read from /proc when `/metrics` is scraped, in
//! the names Prometheus client libraries use (`process_*`): resident memory,
//! CPU seconds, open and allowed file descriptors, start time. On a system
//! without /proc none is written.

use std::fmt::Write as _;

/// Append the process metrics that can be read.
pub fn render(out: &mut String) {
    #[cfg(target_os = "linux")]
    if let Some(p) = linux::read() {
        let gauge = |out: &mut String, name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        gauge(
            out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            p.cpu_seconds,
        );
        gauge(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes as f64,
        );
        gauge(
            out,
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            p.open_fds as f64,
        );
        if let Some(max) = p.max_fds {
            gauge(
                out,
                "process_max_fds",
                "gauge",
                "The most file descriptors the process may open.",
                max as f64,
            );
        }
        if let Some(start) = p.start_time_seconds {
            gauge(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since the Unix epoch, in seconds.",
                start,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

#[cfg(target_os = "linux")]
mod linux {
    /// What /proc says about this process.
    pub struct Process {
        pub cpu_seconds: f64,
        pub resident_bytes: u64,
        pub open_fds: u64,
        pub max_fds: Option<u64>,
        pub start_time_seconds: Option<f64>,
    }

    pub fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may
        // itself hold spaces or parentheses: split after the last ')'.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        // proc(5): utime is field 14, stime 15, starttime 22, rss 24
        // (1-based, counting pid and comm), so 11, 12, 19, 21 here.
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as u64;
        let cpu_seconds = (field(11)? + field(12)?) as f64 / ticks;
        let resident_bytes = field(21)? * page;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let start_time_seconds =
            boot_time().and_then(|boot| Some(boot + field(19)? as f64 / ticks));
        Some(Process {
            cpu_seconds,
            resident_bytes,
            open_fds,
            max_fds,
            start_time_seconds,
        })
    }

    /// The system's boot time (`btime` in /proc/stat), in unix seconds.
    fn boot_time() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|t| t.trim().parse::<f64>().ok())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_process_reads_its_own_memory_cpu_and_files() {
            let p = super::read().unwrap();
            assert!(p.resident_bytes > 1 << 20, "{}", p.resident_bytes);
            assert!(p.open_fds >= 3, "{}", p.open_fds);
            assert!(p.cpu_seconds >= 0.0);
            assert!(p.start_time_seconds.unwrap() > 1.6e9);
        }
    }
}
