//! Persisted users.

use sqlx::Row;

use super::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub created_at: i64,
}

/// What sign-in needs: the id and the password hash.
pub struct Credentials {
    pub id: String,
    pub password_hash: String,
}

impl Store {
    /// Create a user; `Ok(false)` if the name is taken.
    pub async fn create_user(
        &self,
        id: &str,
        username: &str,
        hash: &str,
        now: i64,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(id)
        .bind(username)
        .bind(hash)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn user_credentials(
        &self,
        username: &str,
    ) -> Result<Option<Credentials>, sqlx::Error> {
        let row = sqlx::query("SELECT id, password_hash FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Credentials {
            id: r.get("id"),
            password_hash: r.get("password_hash"),
        }))
    }

    pub async fn user_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn list_users(&self) -> anyhow::Result<Vec<User>> {
        let rows = sqlx::query("SELECT id, username, created_at FROM users ORDER BY username")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| User {
                id: r.get("id"),
                username: r.get("username"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    /// Replace a password; `Ok(false)` if there is no such user. Existing
    /// sessions end, so a stolen session does not outlive a password change.
    pub async fn set_password(&self, username: &str, hash: &str) -> anyhow::Result<bool> {
        let mut tx = self.writer().begin().await?;
        let id: Option<String> = sqlx::query_scalar(
            "UPDATE users SET password_hash = ? WHERE username = ? RETURNING id",
        )
        .bind(hash)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = &id {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id.is_some())
    }

    /// Delete a user; sessions, consents, codes and refresh families go with it.
    pub async fn remove_user(&self, username: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE username = ?")
            .bind(username)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
