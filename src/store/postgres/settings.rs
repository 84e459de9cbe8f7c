//! Settings' SQL.

use super::Postgres;
use crate::store::Result;

impl Postgres {
    pub async fn client_secret_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        self.transaction(async |conn| {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ('client_secret_pepper', $1) ON CONFLICT (name) DO NOTHING",
            )
            .bind(candidate)
            .execute(&mut *conn)
            .await?;
            sqlx::query_scalar("SELECT value FROM settings WHERE name = 'client_secret_pepper'")
                .fetch_one(&mut *conn)
                .await
        })
        .await
    }
}
