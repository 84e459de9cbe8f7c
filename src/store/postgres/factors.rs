//! Second factors', sign-ins' and the account page's SQL.

use sqlx::PgConnection;

use super::{Postgres, database};
use crate::store::Result;
use crate::store::factors::{SIGN_INS_KEPT, SignIn, TotpFactor};

impl Postgres {
    pub async fn totp_factor(&self, user_id: &str) -> Result<Option<TotpFactor>> {
        let row: Option<(Vec<u8>, bool, i64)> = sqlx::query_as(
            "SELECT secret, confirmed_at IS NOT NULL, last_step FROM totp_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(row.map(|(sealed, confirmed, last_step)| TotpFactor {
            sealed,
            confirmed,
            last_step,
        }))
    }

    pub async fn begin_totp(&self, user_id: &str, sealed: Vec<u8>, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
             created_at = excluded.created_at WHERE totp_factors.confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        code_hashes: Vec<Vec<u8>>,
        now: i64,
    ) -> Result<bool> {
        self.transaction(async |conn| {
            let done = sqlx::query(
                "UPDATE totp_factors SET confirmed_at = $1, last_step = $2 \
                 WHERE user_id = $3 AND confirmed_at IS NULL",
            )
            .bind(now)
            .bind(step)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
            let confirmed = done.rows_affected() == 1;
            if confirmed {
                replace_codes(conn, user_id, &code_hashes, now).await?;
            }
            Ok(confirmed)
        })
        .await
    }

    pub async fn spend_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE totp_factors SET last_step = $1 WHERE user_id = $2 AND last_step < $1 \
             AND confirmed_at IS NOT NULL",
        )
        .bind(step)
        .bind(user_id)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn remove_totp(&self, user_id: &str) -> Result<bool> {
        self.transaction(async |conn| {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            let gone = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            Ok(gone.rows_affected() > 0)
        })
        .await
    }

    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        code_hashes: Vec<Vec<u8>>,
        now: i64,
    ) -> Result<()> {
        self.transaction(async |conn| replace_codes(conn, user_id, &code_hashes, now).await)
            .await
    }

    pub async fn spend_recovery_code(&self, user_id: &str, hash: &[u8], now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 \
             AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(hash)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&mut *self.pool.conn().await?)
        .await
        .map_err(database)
    }

    pub async fn record_sign_in(&self, user_id: &str, s: SignIn) -> Result<()> {
        self.transaction(async |conn| {
            sqlx::query(
                "INSERT INTO sign_ins (user_id, at, method, ip_address) VALUES ($1, $2, $3, $4)",
            )
            .bind(user_id)
            .bind(s.at)
            .bind(&s.method)
            .bind(&s.ip_address)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM sign_ins WHERE user_id = $1 AND ctid NOT IN \
                 (SELECT ctid FROM sign_ins WHERE user_id = $1 ORDER BY at DESC LIMIT $2)",
            )
            .bind(user_id)
            .bind(SIGN_INS_KEPT)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn sign_ins_of(&self, user_id: &str) -> Result<Vec<SignIn>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT at, method, ip_address FROM sign_ins WHERE user_id = $1 \
             ORDER BY at DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(SIGN_INS_KEPT)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(rows
            .into_iter()
            .map(|(at, method, ip_address)| SignIn {
                at,
                method,
                ip_address,
            })
            .collect())
    }

    pub async fn end_sessions_of(&self, user_id: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(done.rows_affected())
    }

    pub async fn last_used_by_client(&self, user_id: &str) -> Result<Vec<(String, i64)>> {
        sqlx::query_as(
            "SELECT f.client_id, MAX(t.created_at) FROM refresh_families f \
             JOIN refresh_tokens t ON t.family_id = f.id WHERE f.user_id = $1 \
             GROUP BY f.client_id",
        )
        .bind(user_id)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)
    }
}

/// Replace a person's recovery codes inside the caller's transaction.
async fn replace_codes(
    conn: &mut PgConnection,
    user_id: &str,
    hashes: &[Vec<u8>],
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(h)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
