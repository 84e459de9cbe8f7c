//! Users' SQL.

use sqlx::Row;

use super::{Postgres, database};
use crate::store::users::{Credentials, User};
use crate::store::{Result, split_list};

impl Postgres {
    pub async fn create_user(
        &self,
        id: &str,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(id)
        .bind(username)
        .bind(hash)
        .bind(now)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn user_credentials(&self, username: &str) -> Result<Option<Credentials>> {
        let row: Option<(String, String, bool)> = sqlx::query_as(
            "SELECT id, password_hash, disabled_at IS NOT NULL FROM users \
             WHERE username = $1 AND password_hash <> ''",
        )
        .bind(username)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(row.map(|(id, password_hash, disabled)| Credentials {
            id,
            password_hash,
            disabled,
        }))
    }

    pub async fn user_exists(&self, id: &str) -> Result<bool> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(found.is_some())
    }

    pub async fn user_count(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *self.pool.conn().await?)
            .await
            .map_err(database)
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, username, created_at, password_hash <> '', roles, disabled_at, \
             (SELECT string_agg(provider, ' ' ORDER BY provider) FROM user_identities \
              WHERE user_id = users.id), \
             EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = users.id \
              AND t.confirmed_at IS NOT NULL), \
             (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = users.id) \
             FROM users ORDER BY username",
        )
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        rows.iter()
            .map(|r| {
                Ok(User {
                    id: r.try_get(0)?,
                    username: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                    password: r.try_get(3)?,
                    roles: split_list(&r.try_get::<String, _>(4)?),
                    disabled_at: r.try_get(5)?,
                    providers: split_list(&r.try_get::<Option<String>, _>(6)?.unwrap_or_default()),
                    totp: r.try_get(7)?,
                    passkeys: r.try_get(8)?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(database)
    }

    pub async fn set_password(&self, username: &str, hash: &str, now: i64) -> Result<bool> {
        self.transaction(async |conn| {
            let id: Option<String> = sqlx::query_scalar(
                "UPDATE users SET password_hash = $1 WHERE username = $2 RETURNING id",
            )
            .bind(hash)
            .bind(username)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(id) = &id {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "UPDATE refresh_families SET revoked_at = $1, revoked_why = 'password changed' \
                     WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            }
            Ok(id.is_some())
        })
        .await
    }

    pub async fn remove_user(&self, username: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(done.rows_affected() > 0)
    }
}
