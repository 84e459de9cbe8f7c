//! Passkeys' and WebAuthn ceremonies' SQL.

use super::{Postgres, database};
use crate::store::Result;
use crate::store::passkeys::{Ceremony, StoredPasskey};

type Row = (String, String, String, String, i64, Option<i64>);

fn passkey(r: Row) -> StoredPasskey {
    StoredPasskey {
        credential_id: r.0,
        user_id: r.1,
        name: r.2,
        passkey: r.3,
        created_at: r.4,
        last_used_at: r.5,
    }
}

impl Postgres {
    pub async fn add_passkey(&self, p: StoredPasskey) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO passkeys (credential_id, user_id, name, passkey, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(&p.credential_id)
        .bind(&p.user_id)
        .bind(&p.name)
        .bind(&p.passkey)
        .bind(p.created_at)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<StoredPasskey>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT credential_id, user_id, name, passkey, created_at, last_used_at FROM passkeys \
             WHERE user_id = $1 ORDER BY created_at, credential_id",
        )
        .bind(user_id)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(rows.into_iter().map(passkey).collect())
    }

    pub async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT credential_id, user_id, name, passkey, created_at, last_used_at FROM passkeys \
             WHERE credential_id = $1",
        )
        .bind(credential_id)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(row.map(passkey))
    }

    pub async fn passkey_used(&self, credential_id: &str, passkey: String, now: i64) -> Result<()> {
        sqlx::query("UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE credential_id = $3")
            .bind(passkey)
            .bind(now)
            .bind(credential_id)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(())
    }

    pub async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE passkeys SET name = $1 WHERE user_id = $2 AND credential_id = $3")
                .bind(name)
                .bind(user_id)
                .bind(credential_id)
                .execute(&mut *self.pool.conn().await?)
                .await
                .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2")
            .bind(user_id)
            .bind(credential_id)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn begin_ceremony(&self, c: Ceremony, now: i64) -> Result<()> {
        self.transaction(async |conn| {
            sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO webauthn_ceremonies (id, session_hash, kind, user_id, state, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&c.id)
            .bind(&c.session_hash)
            .bind(c.kind)
            .bind(&c.user_id)
            .bind(&c.state)
            .bind(c.expires_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn take_ceremony(
        &self,
        id: &str,
        session_hash: &[u8],
        kind: &str,
        now: i64,
    ) -> Result<Option<(Option<String>, String)>> {
        sqlx::query_as(
            "DELETE FROM webauthn_ceremonies WHERE id = $1 AND session_hash = $2 AND kind = $3 \
             AND expires_at > $4 RETURNING user_id, state",
        )
        .bind(id)
        .bind(session_hash)
        .bind(kind)
        .bind(now)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)
    }
}
