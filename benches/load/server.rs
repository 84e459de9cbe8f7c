//! The server under test: a real `tessera serve` child process on loopback,
//! its CLI for preparing clients and users, and what `/proc` tells about it
//! (CPU time, resident memory).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::Conn;

/// The release binary cargo built beside this bench (`cargo bench` builds every
/// binary target of the package before running a bench).
pub const TESSERA_BIN: &str = env!("CARGO_BIN_EXE_tessera");

/// Limits lifted in the bench configuration: every virtual user comes from
/// 127.0.0.1 and one client makes every token request, so the shipped per-IP
/// and per-client limits would turn a load test into a limiter test. The
/// limiters still run on every request; they just never trip.
const LIFTED: [(&str, &[&str]); 2] = [
    ("registration", &["rate_limit_burst", "rate_limit_per_hour"]),
    (
        "rate_limits",
        &[
            "token_premium",
            "token_basic",
            "token_default",
            "authorize_per_ip",
            "sign_in_per_ip",
        ],
    ),
];
const HUGE: u32 = 1_000_000_000;

/// The configuration every bench server and CLI call uses: the shipped
/// example configuration with the limits of [`LIFTED`] set out of reach.
pub fn write_config(dir: &Path) -> Result<PathBuf, String> {
    let lifted: Vec<&str> = LIFTED
        .iter()
        .flat_map(|(_, keys)| keys.iter().copied())
        .collect();
    let mut config: String = tessera::config::EXAMPLE_CONFIG
        .lines()
        .filter(|l| {
            !lifted
                .iter()
                .any(|k| l.split('=').next().is_some_and(|key| key.trim() == *k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    for (table, keys) in LIFTED {
        let values: String = keys.iter().map(|k| format!("{k} = {HUGE}\n")).collect();
        let header = format!("[{table}]\n");
        if config.lines().any(|l| l.trim() == header.trim()) {
            config = config.replacen(&header, &format!("{header}{values}"), 1);
        } else {
            config.push_str(&format!("\n{header}{values}"));
        }
    }
    let path = dir.join("bench.toml");
    std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A `tessera` command against `database` with the bench configuration in
/// `dir`, isolated from the caller's environment.
pub fn tessera(bin: &Path, database: &str, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    for var in [
        "TESSERA_CONFIG",
        "TESSERA_ISSUER",
        "TESSERA_LISTEN",
        "TESSERA_INITIAL_ACCESS_TOKEN",
    ] {
        c.env_remove(var);
    }
    c.env("TESSERA_LOG", "warn").arg("--database").arg(database);
    c.arg("--config").arg(dir.join("bench.toml"));
    c
}

/// Run a CLI command, feeding `stdin`; returns its stdout or a clear error.
pub fn cli(
    bin: &Path,
    database: &str,
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, String> {
    let mut child = tessera(bin, database, dir)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| format!("tessera {args:?}: stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("tessera {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tessera {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A running `tessera serve`. Killed (SIGKILL) if dropped without `stop`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
    /// Spawn to the first successful `GET /health/live`.
    pub ready: Duration,
    /// VmRSS right after it became ready, in KiB.
    pub idle_rss_kib: u64,
    pub log: PathBuf,
}

impl Server {
    /// Keep the server's log beside the results (the temporary directory goes).
    pub fn keep_log(&self, into: &Path, label: &str) {
        let _ = std::fs::create_dir_all(into);
        let _ = std::fs::copy(&self.log, into.join(format!("server-{label}.log")));
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl Server {
    /// Start the server on a free loopback port and wait until it answers.
    pub async fn start(
        bin: &Path,
        database: &str,
        dir: &Path,
        label: &str,
    ) -> Result<Self, String> {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let mut command = tessera(bin, database, dir);
        command.args(["serve", "--listen", &addr.to_string()]);
        let log = dir.join(format!("server-{label}.log"));
        Self::spawn(command, addr, log, "Tessera is listening on ").await
    }

    /// Start the harness's ceiling (`ceiling.rs`): this bench binary again,
    /// serving on a free loopback port.
    pub async fn start_ceiling(dir: &Path) -> Result<Self, String> {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let exe = std::env::current_exe().map_err(|e| format!("the bench's own path: {e}"))?;
        let mut command = Command::new(exe);
        command.args(["--ceiling-server", &addr.to_string()]);
        let log = dir.join("server-ceiling.log");
        Self::spawn(command, addr, log, crate::ceiling::LISTENING).await
    }

    /// Spawn `command` (a server that will listen on `addr`), logging its
    /// stderr to `log`, and wait until it answers `GET /health/live` and has
    /// written a first line that starts with `listening`.
    async fn spawn(
        mut command: Command,
        addr: SocketAddr,
        log: PathBuf,
        listening: &str,
    ) -> Result<Self, String> {
        let stderr = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let spawned = Instant::now();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let first_line = drain_stdout(stdout);
        let ready = wait_ready(addr, &mut child, spawned, &log).await?;
        let first = first_line
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        if !first.starts_with(listening) {
            return Err(format!(
                "unexpected first line from {:?}: {first:?}",
                command.get_program()
            ));
        }
        let idle_rss_kib = proc_status_kib(pid, "VmRSS").unwrap_or(0);
        Ok(Self {
            child,
            addr,
            pid,
            ready,
            idle_rss_kib,
            log,
        })
    }

    /// SIGTERM, then wait for a graceful exit (SIGKILL after 10 s).
    pub fn stop(mut self) -> Result<(), String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "the server did not stop within 10 s of SIGTERM (log: {})",
            self.log.display()
        ))
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(self.pid).unwrap_or(f64::NAN)
    }

    /// Reset the peak-RSS mark (VmHWM) so the next reading is this phase's peak.
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmRSS").unwrap_or(0)
    }

    /// OS threads of the server process (runtime workers plus the blocking pool).
    pub fn threads(&self) -> u64 {
        proc_status_kib(self.pid, "Threads").unwrap_or(0)
    }

    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmHWM").unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Drains the server's stdout on a thread (so it never blocks on a full
/// pipe) and hands back its first line.
fn drain_stdout(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let _ = tx.send(lines.next().unwrap_or_default());
        lines.for_each(drop);
    });
    rx
}

async fn wait_ready(
    addr: SocketAddr,
    child: &mut Child,
    spawned: Instant,
    log: &Path,
) -> Result<Duration, String> {
    let deadline = spawned + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut conn = Conn::new(addr);
        if let Ok(res) = conn.get("/health/live", None).await
            && res.status.is_success()
        {
            return Ok(spawned.elapsed());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!(
                "the server exited ({status}) before it was ready:\n{log}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err("the server was not ready within 60 s".to_owned())
}

/// utime + stime from `/proc/PID/stat`, in seconds.
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `state` is field 3 of the whole line, i.e. index 0 here; utime/stime are 14/15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// CPU seconds the whole machine has been busy (all cores, `/proc/stat`).
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else {
        return f64::NAN;
    };
    let ticks: Vec<f64> = cpu
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy / clock_ticks()
}

/// CPU seconds this process (the load generator) has used.
pub fn own_cpu_seconds() -> f64 {
    proc_cpu_seconds(std::process::id()).unwrap_or(f64::NAN)
}

/// `getconf CLK_TCK`, usually 100.
pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A numeric line of `/proc/PID/status` (VmRSS and VmHWM are in KiB).
fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
