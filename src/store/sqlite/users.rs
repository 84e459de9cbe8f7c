//! Users' SQL.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::users::{Credentials, User};

impl Sqlite {
    pub async fn create_user(
        &self,
        id: &str,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        let row = (id.to_owned(), username.to_owned(), hash.to_owned(), now);
        self.write(row, |r, conn| {
            conn.prepare_cached(
                "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (username) DO NOTHING",
            )?
            .execute(params![r.0, r.1, r.2, r.3])
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn user_credentials(&self, username: &str) -> Result<Option<Credentials>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT id, password_hash FROM users WHERE username = ?")?
                .query_row([username], |r| {
                    Ok(Credentials {
                        id: r.get(0)?,
                        password_hash: r.get(1)?,
                    })
                })
                .optional()
        })
    }

    pub async fn user_exists(&self, id: &str) -> Result<bool> {
        self.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM users WHERE id = ?")?
                .exists([id])
        })
    }

    pub async fn user_count(&self) -> Result<i64> {
        self.read(|conn| conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)))
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        self.scan(|conn| {
            conn.prepare("SELECT id, username, created_at FROM users ORDER BY username")?
                .query_map([], |r| {
                    Ok(User {
                        id: r.get(0)?,
                        username: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                })?
                .collect()
        })
        .await
    }

    pub async fn set_password(&self, username: &str, hash: &str, now: i64) -> Result<bool> {
        self.write(
            (username.to_owned(), hash.to_owned(), now),
            |(username, hash, now), conn| {
                let id: Option<String> = conn
                    .prepare_cached(
                        "UPDATE users SET password_hash = ? WHERE username = ? RETURNING id",
                    )?
                    .query_row([hash, username], |r| r.get(0))
                    .optional()?;
                if let Some(id) = &id {
                    conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?")?
                        .execute([id])?;
                    conn.prepare_cached(
                        "UPDATE refresh_families SET revoked_at = ?, revoked_why = 'password changed' \
                         WHERE user_id = ? AND revoked_at IS NULL",
                    )?
                    .execute(params![now, id])?;
                }
                Ok(id.is_some())
            },
        )
        .await
    }

    pub async fn remove_user(&self, username: &str) -> Result<bool> {
        self.write(username.to_owned(), |username, conn| {
            conn.prepare_cached("DELETE FROM users WHERE username = ?")?
                .execute([username])
                .map(|n| n > 0)
        })
        .await
    }
}
