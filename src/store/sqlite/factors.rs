//! Second factors', sign-ins' and the account page's SQL.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::factors::{SIGN_INS_KEPT, SignIn, TotpFactor};

impl Sqlite {
    pub async fn totp_factor(&self, user_id: &str) -> Result<Option<TotpFactor>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT secret, confirmed_at IS NOT NULL, last_step FROM totp_factors WHERE user_id = ?",
            )?
            .query_row([user_id], |r| {
                Ok(TotpFactor {
                    sealed: r.get(0)?,
                    confirmed: r.get(1)?,
                    last_step: r.get(2)?,
                })
            })
            .optional()
        })
    }

    pub async fn begin_totp(&self, user_id: &str, sealed: Vec<u8>, now: i64) -> Result<bool> {
        self.write(
            (user_id.to_owned(), sealed, now),
            |(user, sealed, now), conn| {
                conn.prepare_cached(
                    "INSERT INTO totp_factors (user_id, secret, created_at) VALUES (?, ?, ?) \
                 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
                 created_at = excluded.created_at WHERE totp_factors.confirmed_at IS NULL",
                )?
                .execute(params![user, sealed, now])
                .map(|n| n == 1)
            },
        )
        .await
    }

    pub async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        code_hashes: Vec<Vec<u8>>,
        now: i64,
    ) -> Result<bool> {
        let job = (user_id.to_owned(), step, code_hashes, now);
        self.write(job, |(user, step, hashes, now), conn| {
            let confirmed = conn
                .prepare_cached(
                    "UPDATE totp_factors SET confirmed_at = ?, last_step = ? \
                     WHERE user_id = ? AND confirmed_at IS NULL",
                )?
                .execute(params![now, step, user])?;
            if confirmed == 1 {
                replace_codes(conn, user, hashes, *now)?;
            }
            Ok(confirmed == 1)
        })
        .await
    }

    pub async fn spend_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        self.write((user_id.to_owned(), step), |(user, step), conn| {
            conn.prepare_cached(
                "UPDATE totp_factors SET last_step = ? WHERE user_id = ? AND last_step < ? \
                 AND confirmed_at IS NOT NULL",
            )?
            .execute(params![step, user, step])
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn remove_totp(&self, user_id: &str) -> Result<bool> {
        self.write(user_id.to_owned(), |user, conn| {
            conn.prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?")?
                .execute([user])?;
            conn.prepare_cached("DELETE FROM totp_factors WHERE user_id = ?")?
                .execute([user])
                .map(|n| n > 0)
        })
        .await
    }

    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        code_hashes: Vec<Vec<u8>>,
        now: i64,
    ) -> Result<()> {
        let job = (user_id.to_owned(), code_hashes, now);
        self.write(job, |(user, hashes, now), conn| {
            replace_codes(conn, user, hashes, *now)
        })
        .await
    }

    pub async fn spend_recovery_code(&self, user_id: &str, hash: &[u8], now: i64) -> Result<bool> {
        let job = (user_id.to_owned(), hash.to_vec(), now);
        self.write(job, |(user, hash, now), conn| {
            conn.prepare_cached(
                "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? \
                 AND used_at IS NULL",
            )?
            .execute(params![now, user, hash])
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
            )?
            .query_row([user_id], |r| r.get(0))
        })
    }

    pub async fn record_sign_in(&self, user_id: &str, s: SignIn) -> Result<()> {
        let job = (user_id.to_owned(), s);
        self.write(job, |(user, s), conn| {
            conn.prepare_cached(
                "INSERT INTO sign_ins (user_id, at, method, ip_address) VALUES (?, ?, ?, ?)",
            )?
            .execute(params![user, s.at, s.method, s.ip_address])?;
            conn.prepare_cached(
                "DELETE FROM sign_ins WHERE user_id = ? AND rowid NOT IN \
                 (SELECT rowid FROM sign_ins WHERE user_id = ? ORDER BY at DESC, rowid DESC LIMIT ?)",
            )?
            .execute(params![user, user, SIGN_INS_KEPT])
            .map(|_| ())
        })
        .await
    }

    pub async fn sign_ins_of(&self, user_id: &str) -> Result<Vec<SignIn>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT at, method, ip_address FROM sign_ins WHERE user_id = ? \
                 ORDER BY at DESC, rowid DESC LIMIT ?",
            )?
            .query_map(params![user_id, SIGN_INS_KEPT], |r| {
                Ok(SignIn {
                    at: r.get(0)?,
                    method: r.get(1)?,
                    ip_address: r.get(2)?,
                })
            })?
            .collect()
        })
    }

    pub async fn end_sessions_of(&self, user_id: &str) -> Result<u64> {
        self.write(user_id.to_owned(), |user, conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?")?
                .execute([user])
                .map(|n| n as u64)
        })
        .await
    }

    pub async fn last_used_by_client(&self, user_id: &str) -> Result<Vec<(String, i64)>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT f.client_id, MAX(t.created_at) FROM refresh_families f \
                 JOIN refresh_tokens t ON t.family_id = f.id WHERE f.user_id = ? \
                 GROUP BY f.client_id",
            )?
            .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
        })
    }
}

/// Replace a person's recovery codes inside the caller's transaction.
fn replace_codes(
    conn: &rusqlite::Connection,
    user: &str,
    hashes: &[Vec<u8>],
    now: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?")?
        .execute([user])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
    )?;
    for h in hashes {
        insert.execute(params![user, h, now])?;
    }
    Ok(())
}
