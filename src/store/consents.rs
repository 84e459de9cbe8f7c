//! Remembered consent: what a person allowed a client.

use rusqlite::OptionalExtension;

use super::Store;

impl Store {
    /// The scopes `user_id` has allowed `client_id`, space-separated.
    pub async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        self.read(|conn| {
            conn.prepare_cached("SELECT scope FROM consents WHERE user_id = ? AND client_id = ?")?
                .query_row([user_id, client_id], |r| r.get(0))
                .optional()
        })
    }

    /// Store the merged scope of a consent (callers compute the union).
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let row = (
            user_id.to_owned(),
            client_id.to_owned(),
            scope.to_owned(),
            now,
        );
        self.write(row, |r, conn| {
            conn.prepare_cached(
                "INSERT INTO consents (user_id, client_id, scope, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, \
                 updated_at = excluded.updated_at",
            )?
            .execute(rusqlite::params![r.0, r.1, r.2, r.3])
            .map(|_| ())
        })
        .await
    }

    /// Withdraw a consent and kill the refresh families it allowed.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> anyhow::Result<bool> {
        let mut tx = self.writer().begin().await?;
        let gone = sqlx::query("DELETE FROM consents WHERE user_id = ? AND client_id = ?")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_families WHERE user_id = ? AND client_id = ?")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }
}

/// A remembered consent, as listed.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct Consent {
    pub client_id: String,
    pub scope: String,
    pub updated_at: i64,
}

impl Store {
    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<Consent>, sqlx::Error> {
        sqlx::query_as("SELECT client_id, scope, updated_at FROM consents WHERE user_id = ? ORDER BY updated_at DESC")
            .bind(user_id)
            .fetch_all(self.pool())
            .await
    }
}
