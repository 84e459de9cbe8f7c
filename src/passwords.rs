//! Human passwords: argon2id with OWASP parameters (19 MiB, 2 passes, 1 lane).
//!
//! Hashing is deliberately slow, so it never runs on the async runtime: every
//! hash and verification goes to a blocking thread behind a semaphore with
//! half as many permits as cores. A flood of sign-ins then queues there instead of
//! starving the token endpoint. Unknown users are verified against a dummy hash
//! so they take as long as known ones (no user enumeration by timing).

use std::sync::Arc;

use anyhow::{Context, anyhow};
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow!("password hashing failed: {e}"))
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords(..)")
    }
}

impl Passwords {
    pub fn new() -> anyhow::Result<Self> {
        // Half the cores at most: a flood of sign-ins must leave the token
        // endpoint a core (measured: with every core hashing, token p99 went
        // to seconds under a sign-in flood).
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            permits: Arc::new(Semaphore::new((cores / 2).max(1))),
            dummy: hash_now("tessera-dummy-password")?.into(),
        })
    }

    /// Hash a new password (off the runtime).
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("password hasher closed")?;
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .context("hashing task failed")?
    }

    /// Verify `password` against `hash`, or against the dummy hash when the
    /// user is unknown (always `false` then, after the same work).
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.to_string());
        let ok = tokio::task::spawn_blocking(move || verify_now(&password, &hash))
            .await
            .unwrap_or(false);
        ok && known
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

    #[tokio::test]
    async fn a_password_verifies_and_unknown_users_never_do() {
        let p = Passwords::new().unwrap();
        let hash = p.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(p.verify("correct horse".into(), Some(hash.clone())).await);
        assert!(!p.verify("wrong horse".into(), Some(hash)).await);
        assert!(!p.verify("tessera-dummy-password".into(), None).await);
    }
}
