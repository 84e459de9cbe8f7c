//! Sessions' SQL.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::sessions::{NewSession, Session};

impl Sqlite {
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<()> {
        let row = (
            s.id_hash.to_vec(),
            s.user_id.map(str::to_owned),
            s.csrf.to_owned(),
            s.auth_time,
            s.expires_at,
        );
        self.write(row, |r, conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (id_hash, user_id, csrf, auth_time, expires_at) VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![r.0, r.1, r.2, r.3, r.4])
            .map(|_| ())
        })
        .await
    }

    pub async fn session(&self, id_hash: &[u8], now: i64) -> Result<Option<Session>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT s.user_id, u.username, s.csrf, s.auth_time FROM sessions s \
                 LEFT JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ? \
                 AND u.disabled_at IS NULL",
            )?
            .query_row(params![id_hash, now], |r| {
                Ok(Session {
                    user_id: r.get(0)?,
                    username: r.get(1)?,
                    csrf: r.get(2)?,
                    auth_time: r.get(3)?,
                })
            })
            .optional()
        })
    }

    pub async fn delete_session(&self, id_hash: &[u8], now: i64) -> Result<()> {
        self.write((id_hash.to_vec(), now), |(hash, now), conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE id_hash = ? OR expires_at <= ?")?
                .execute(params![hash, now])
                .map(|_| ())
        })
        .await
    }
}
