//! Human passwords: argon2id with OWASP parameters (19 MiB, 2 passes, 1 lane).
//!
//! Hashing is deliberately slow and memory-hungry, so it never runs on the
//! async runtime: a fixed set of worker threads (half the cores, at least one)
//! does every hash and verification. Each worker keeps one argon2 memory area
//! and reuses it, so the process holds `workers × 19 MiB` at most instead of
//! allocator arenas full of freed 19 MiB blocks, and a flood of sign-ins queues
//! on the workers while the other cores keep serving tokens. The workers run
//! at nice 10, so a runnable request thread preempts a hash even on the
//! worker's own core, and each rests as long as its last hash computed before
//! taking the next job, so a queue of sign-ins takes at most half of a core
//! (a lone sign-in never waits for the rest). Unknown users are
//! verified against a dummy hash so they take as long as known ones (no user
//! enumeration by timing).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{mpsc, oneshot};

/// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
fn owasp() -> Params {
    Params::new(19 * 1024, 2, 1, Some(32)).unwrap_or_default()
}

/// The PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) of a hash.
fn phc_string(params: &Params, salt: &SaltString, out: &[u8]) -> anyhow::Result<String> {
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow!("{e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(out).map_err(|e| anyhow!("{e}"))?),
    };
    Ok(phc.to_string())
}

/// The hash unknown users are verified against: the real parameters, a random
/// salt and a random output. Verifying against it costs exactly what a real
/// verification costs, and no password matches it (that would need the 256-bit
/// output guessed), so nothing is hashed at start-up: the 19 MiB argon2 area
/// is never allocated unless someone signs in.
fn dummy_hash() -> anyhow::Result<String> {
    let mut out = [0u8; 32];
    crate::secrets::fill_random(&mut out)?;
    phc_string(&owasp(), &SaltString::generate(&mut OsRng), &out)
}

enum Job {
    Hash(String, oneshot::Sender<anyhow::Result<String>>),
    Verify(String, String, oneshot::Sender<bool>),
}

/// A worker's reusable argon2 memory.
struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.0.len() < n {
            self.0.resize(n, Block::default());
        }
        &mut self.0[..n]
    }

    fn hash(&mut self, password: &str) -> anyhow::Result<String> {
        let params = owasp();
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt
            .as_salt()
            .decode_b64(&mut salt_buf)
            .map_err(|e| anyhow!("salt: {e}"))?;
        let mut out = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                self.blocks(&params),
            )
            .map_err(|e| anyhow!("password hashing failed: {e}"))?;
        phc_string(&params, &salt, &out)
    }

    fn verify(&mut self, password: &str, stored: &str) -> bool {
        let Ok(phc) = PasswordHash::new(stored) else {
            return false;
        };
        let (Ok(params), Ok(algorithm)) =
            (Params::try_from(&phc), Algorithm::try_from(phc.algorithm))
        else {
            return false;
        };
        let version = phc
            .version
            .and_then(|v| Version::try_from(v).ok())
            .unwrap_or_default();
        let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
            return false;
        };
        let mut salt_buf = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        let hashed = Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                self.blocks(&params),
            );
        // `Output` compares in constant time.
        hashed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
    }
}

/// A worker thread: takes jobs until every sender is gone.
/// The workers' niceness: a runnable request thread gets the core before a
/// hash does (a hash takes milliseconds of CPU; a token request, tens of
/// microseconds), while an otherwise idle core still hashes at full speed.
const NICE: i32 = 10;

fn work(jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    lower_priority();
    let mut memory = Memory(Vec::new());
    loop {
        let job = match jobs.lock() {
            Ok(mut rx) => rx.blocking_recv(),
            Err(_) => return,
        };
        let cpu = thread_cpu();
        match job {
            Some(Job::Hash(password, reply)) => {
                let _ = reply.send(memory.hash(&password));
            }
            Some(Job::Verify(password, stored, reply)) => {
                let _ = reply.send(memory.verify(&password, &stored));
            }
            None => return,
        }
        // Rest as long as the job computed before taking the next one, so
        // hashing takes at most half of a core however many sign-ins queue:
        // a lower priority alone does not stop a flood of sign-ins from
        // taking a whole core whenever the token path leaves one idle, and
        // then the token path queues behind it when it needs both. A lone
        // sign-in never waits for the rest; a queue of them is served at half
        // the speed.
        let spent = thread_cpu().saturating_sub(cpu);
        if !spent.is_zero() {
            std::thread::sleep(spent);
        }
    }
}

/// This thread's CPU time.
#[cfg(target_os = "linux")]
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Elsewhere the worker never rests.
#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Duration {
    Duration::ZERO
}

#[derive(Clone)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
    dummy: Arc<str>,
}

/// Give this thread (only: on Linux, a thread id names one thread) [`NICE`].
#[cfg(target_os = "linux")]
fn lower_priority() {
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), NICE) {
        tracing::debug!(error = %e, "password worker keeps its priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords(..)")
    }
}

impl Passwords {
    /// Start the workers (half the cores, at least one) and make the dummy hash.
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (tx, rx) = mpsc::channel(1024);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..(cores / 2).max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("tessera-argon2-{i}"))
                .spawn(move || work(rx))
                .context("cannot start a password worker")?;
        }
        let dummy = dummy_hash()?;
        Ok(Self {
            jobs: tx,
            dummy: dummy.into(),
        })
    }

    /// Queue a job for the workers (waiting, asynchronously, when the queue is full).
    async fn submit(&self, job: Job) -> anyhow::Result<()> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| anyhow!("the password workers stopped"))
    }

    /// Hash a new password.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash(password, reply)).await?;
        answer.await.context("the password worker stopped")?
    }

    /// Verify `password` against `hash`, or against the dummy hash when the
    /// user is unknown (always `false` then, after the same work).
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let known = hash.is_some();
        let stored = hash.unwrap_or_else(|| self.dummy.to_string());
        let (reply, answer) = oneshot::channel();
        if self
            .submit(Job::Verify(password, stored, reply))
            .await
            .is_err()
        {
            return false;
        }
        answer.await.unwrap_or(false) && known
    }
}

/// Reject passwords that are too short to be worth hashing.
pub fn check_strength(password: &str) -> anyhow::Result<()> {
    if password.chars().count() < 8 {
        anyhow::bail!("passwords must have at least 8 characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    /// The niceness of every password worker thread of this process, from
    /// `/proc/self/task/TID/stat` (field 19, after the parenthesised name).
    #[cfg(target_os = "linux")]
    fn worker_niceness() -> Vec<i64> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("tessera-argon2-") {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let after_name = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
            // Fields from the state (3rd) on: nice is the 19th, so the 17th here.
            if let Some(nice) = after_name.split(' ').nth(16) {
                found.push(nice.parse().unwrap());
            }
        }
        found
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn password_workers_run_below_request_threads() {
        let p = Passwords::new().unwrap();
        // A finished hash means a worker has started and set its priority.
        p.hash("correct horse".into()).await.unwrap();
        // Other tests start workers too: give one just spawned a moment to
        // reach its first line.
        let mut niceness = worker_niceness();
        for _ in 0..100 {
            if niceness.iter().all(|&n| n >= i64::from(NICE)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            niceness = worker_niceness();
        }
        assert!(!niceness.is_empty(), "no password worker thread found");
        assert!(
            niceness.iter().all(|&n| n >= i64::from(NICE)),
            "{niceness:?}"
        );
    }

    #[tokio::test]
    async fn a_password_verifies_and_unknown_users_never_do() {
        let p = Passwords::new().unwrap();
        let hash = p.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(p.verify("correct horse".into(), Some(hash.clone())).await);
        assert!(!p.verify("wrong horse".into(), Some(hash)).await);
        assert!(!p.verify("tessera-dummy-password".into(), None).await);
        assert!(!p.verify("x".into(), Some("not a phc string".into())).await);
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        // Same algorithm and parameters as a real hash, so an unknown user's
        // verification does the same work; fresh salt and output every time.
        let (a, b) = (dummy_hash().unwrap(), dummy_hash().unwrap());
        let real = Memory(Vec::new()).hash("x").unwrap();
        let head = |h: &str| h.splitn(5, '$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(head(&a), head(&real));
        assert_ne!(a, b);
        let parsed = PasswordHash::new(&a).unwrap();
        assert_eq!(parsed.hash.unwrap().len(), 32);
        assert!(!Memory(Vec::new()).verify("tessera-dummy-password", &a));
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crates_own_hasher() {
        let mut memory = Memory(Vec::new());
        let ours = memory.hash("interop").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"interop", &parsed)
                .is_ok()
        );
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, owasp())
            .hash_password(b"interop", &salt)
            .unwrap()
            .to_string();
        assert!(memory.verify("interop", &theirs));
        assert!(!memory.verify("other", &theirs));
    }
}
