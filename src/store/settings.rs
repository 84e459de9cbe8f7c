//! Server-wide generated values (the client-secret pepper).

use ring::rand::{SecureRandom, SystemRandom};

use super::Store;

impl Store {
    /// The client-secret pepper, generated on first use. `INSERT OR IGNORE`
    /// makes concurrent first starts agree on one value.
    pub async fn client_secret_pepper(&self) -> anyhow::Result<Vec<u8>> {
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        sqlx::query(
            "INSERT OR IGNORE INTO settings (name, value) VALUES ('client_secret_pepper', ?)",
        )
        .bind(&fresh[..])
        .execute(self.writer())
        .await?;
        let value: Vec<u8> =
            sqlx::query_scalar("SELECT value FROM settings WHERE name = 'client_secret_pepper'")
                .fetch_one(self.pool())
                .await?;
        Ok(value)
    }
}
