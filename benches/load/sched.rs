//! How the load generator's threads are scheduled.
//!
//! The generator shares the machine's cores with the server it measures. Under
//! Linux's default policy a generator thread woken by an answer preempts the
//! server thread that wrote it, in the middle of its next request: two context
//! switches per request that a remote client would never cause. With
//! `SCHED_BATCH` (`--generator-policy batch`, the default) a woken generator
//! thread waits for the server thread to block or for the next tick instead;
//! it still gets its fair share of the cores. The server keeps the default
//! policy, and the harness checks that it did not inherit the generator's.

use clap::ValueEnum;
use thread_priority::unix::{
    NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
    thread_native_id,
};
use thread_priority::{ThreadPriority, ThreadPriorityValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Policy {
    /// `SCHED_BATCH`: a woken generator thread does not preempt the server.
    Batch,
    /// `SCHED_OTHER`, Linux's default.
    Normal,
}

impl Policy {
    pub fn label(self) -> &'static str {
        match self {
            Self::Batch => "SCHED_BATCH",
            Self::Normal => "SCHED_OTHER",
        }
    }

    /// Apply the policy to the calling thread, at niceness 0 (the crate sets a
    /// niceness too, mapped from its own scale; rustix puts it back to 0), and
    /// check what took effect.
    pub fn apply_to_this_thread(self) {
        let (policy, number) = match self {
            Self::Batch => (NormalThreadSchedulePolicy::Batch, "3"),
            Self::Normal => (NormalThreadSchedulePolicy::Other, "0"),
        };
        // 49 of the crate's 0..=99 maps to niceness 0 (50 would be -1, which
        // needs privileges); rustix then sets exactly 0 either way.
        let nice_zero = ThreadPriorityValue::try_from(49u8).map(ThreadPriority::Crossplatform);
        let applied = nice_zero.map_err(|e| e.to_owned()).and_then(|nice| {
            set_thread_priority_and_policy(
                thread_native_id(),
                nice,
                ThreadSchedulePolicy::Normal(policy),
            )
            .map_err(|e| format!("{e:?}"))
        });
        let me = rustix::thread::gettid();
        let renice = rustix::process::setpriority_process(Some(me), 0).map_err(|e| e.to_string());
        let applied = applied.and(renice);
        let took = stat_fields("/proc/thread-self/stat")
            .map(|f| (f.get(16).cloned(), f.get(38).cloned()))
            .unwrap_or_default();
        if applied.is_err() || took != (Some("0".to_owned()), Some(number.to_owned())) {
            eprintln!(
                "load: warning: a generator thread is not {} at nice 0 ({applied:?}; nice, policy = {took:?})",
                self.label()
            );
        }
    }
}

/// The fields of a `/proc/…/stat` line after the command name (which is in
/// parentheses and may hold spaces): index 0 is field 3 (state).
fn stat_fields(path: &str) -> Result<Vec<String>, String> {
    let stat = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    Ok(rest.split_whitespace().map(str::to_owned).collect())
}

/// Fails unless process `pid` runs under Linux's default policy (`SCHED_OTHER`,
/// field 41 of `/proc/PID/stat`): the server must not inherit the generator's.
pub fn check_default_policy(pid: u32) -> Result<(), String> {
    let fields = stat_fields(&format!("/proc/{pid}/stat"))?;
    match fields.get(38).map(String::as_str) {
        Some("0") => Ok(()),
        other => Err(format!(
            "the server runs under scheduling policy {other:?}, not SCHED_OTHER (0)"
        )),
    }
}
