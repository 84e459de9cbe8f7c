//! Users' SQL.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::users::{Credentials, User};
use crate::store::{Result, split_list};

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
            conn.prepare_cached(
                "SELECT id, password_hash, disabled_at IS NOT NULL FROM users \
                 WHERE username = ? AND password_hash <> ''",
            )?
            .query_row([username], |r| {
                Ok(Credentials {
                    id: r.get(0)?,
                    password_hash: r.get(1)?,
                    disabled: r.get(2)?,
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
            conn.prepare(
                "SELECT id, username, created_at, password_hash <> '', roles, disabled_at, \
                 (SELECT group_concat(provider, ' ') FROM \
                  (SELECT provider FROM user_identities WHERE user_id = users.id ORDER BY provider)), \
                 EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = users.id \
                  AND t.confirmed_at IS NOT NULL), \
                 (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = users.id) \
                 FROM users ORDER BY username",
            )?
            .query_map([], |r| {
                Ok(User {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    created_at: r.get(2)?,
                    password: r.get(3)?,
                    roles: split_list(&r.get::<_, String>(4)?),
                    disabled_at: r.get(5)?,
                    providers: split_list(&r.get::<_, Option<String>>(6)?.unwrap_or_default()),
                    totp: r.get(7)?,
                    passkeys: r.get(8)?,
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
