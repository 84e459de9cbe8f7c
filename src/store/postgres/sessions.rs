//! Sessions' SQL.

use sqlx::Row;

use super::{Postgres, database};
use crate::store::Result;
use crate::store::sessions::{NewSession, Session};

impl Postgres {
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<()> {
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(s.id_hash)
            .bind(s.user_id)
            .bind(s.csrf)
            .bind(s.auth_time)
            .bind(s.expires_at)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map(|_| ())
            .map_err(database)
    }

    pub async fn session(&self, id_hash: &[u8], now: i64) -> Result<Option<Session>> {
        let r = sqlx::query(
            "SELECT s.user_id, u.username, s.csrf, s.auth_time FROM sessions s \
             LEFT JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2 \
             AND u.disabled_at IS NULL",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        let Some(r) = r else { return Ok(None) };
        let session = (|| {
            Ok::<_, sqlx::Error>(Session {
                user_id: r.try_get(0)?,
                username: r.try_get(1)?,
                csrf: r.try_get(2)?,
                auth_time: r.try_get(3)?,
            })
        })();
        session.map(Some).map_err(database)
    }

    pub async fn delete_session(&self, id_hash: &[u8], now: i64) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1 OR expires_at <= $2")
            .bind(id_hash)
            .bind(now)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map(|_| ())
            .map_err(database)
    }
}
