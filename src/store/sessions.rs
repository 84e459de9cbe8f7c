//! Browser sessions at the authorization server.

use rusqlite::OptionalExtension;

use super::Store;

#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub csrf: String,
    pub auth_time: Option<i64>,
}

pub struct NewSession<'a> {
    pub id_hash: &'a [u8],
    pub user_id: Option<&'a str>,
    pub csrf: &'a str,
    pub auth_time: Option<i64>,
    pub expires_at: i64,
}

impl Store {
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<(), sqlx::Error> {
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
            .execute(rusqlite::params![r.0, r.1, r.2, r.3, r.4])
            .map(|_| ())
        })
        .await
    }

    /// A live session by the keyed hash of its cookie.
    pub async fn session(&self, id_hash: &[u8], now: i64) -> Result<Option<Session>, sqlx::Error> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT s.user_id, u.username, s.csrf, s.auth_time FROM sessions s \
                 LEFT JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ?",
            )?
            .query_row(rusqlite::params![id_hash, now], |r| {
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

    /// Delete a session and, opportunistically, every expired one.
    pub async fn delete_session(&self, id_hash: &[u8], now: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ? OR expires_at <= ?")
            .bind(id_hash)
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
