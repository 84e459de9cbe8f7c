//! Passkeys' and WebAuthn ceremonies' SQL.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::passkeys::{Ceremony, StoredPasskey};

const COLUMNS: &str = "credential_id, user_id, name, passkey, created_at, last_used_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPasskey> {
    Ok(StoredPasskey {
        credential_id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        passkey: r.get(3)?,
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
    })
}

impl Sqlite {
    pub async fn add_passkey(&self, p: StoredPasskey) -> Result<bool> {
        self.write(p, |p, conn| {
            conn.prepare_cached(
                "INSERT INTO passkeys (credential_id, user_id, name, passkey, created_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (credential_id) DO NOTHING",
            )?
            .execute(params![
                p.credential_id,
                p.user_id,
                p.name,
                p.passkey,
                p.created_at
            ])
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<StoredPasskey>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM passkeys WHERE user_id = ? ORDER BY created_at, credential_id"
            ))?
            .query_map([user_id], row)?
            .collect()
        })
    }

    pub async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM passkeys WHERE credential_id = ?"
            ))?
            .query_row([credential_id], row)
            .optional()
        })
    }

    pub async fn passkey_used(&self, credential_id: &str, passkey: String, now: i64) -> Result<()> {
        let job = (credential_id.to_owned(), passkey, now);
        self.write(job, |(id, passkey, now), conn| {
            conn.prepare_cached(
                "UPDATE passkeys SET passkey = ?, last_used_at = ? WHERE credential_id = ?",
            )?
            .execute(params![passkey, now, id])
            .map(|_| ())
        })
        .await
    }

    pub async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool> {
        let job = (
            user_id.to_owned(),
            credential_id.to_owned(),
            name.to_owned(),
        );
        self.write(job, |(user, id, name), conn| {
            conn.prepare_cached(
                "UPDATE passkeys SET name = ? WHERE user_id = ? AND credential_id = ?",
            )?
            .execute(params![name, user, id])
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool> {
        let job = (user_id.to_owned(), credential_id.to_owned());
        self.write(job, |(user, id), conn| {
            conn.prepare_cached("DELETE FROM passkeys WHERE user_id = ? AND credential_id = ?")?
                .execute(params![user, id])
                .map(|n| n == 1)
        })
        .await
    }

    pub async fn begin_ceremony(&self, c: Ceremony, now: i64) -> Result<()> {
        self.write((c, now), |(c, now), conn| {
            conn.prepare_cached("DELETE FROM webauthn_ceremonies WHERE expires_at <= ?")?
                .execute([now])?;
            conn.prepare_cached(
                "INSERT INTO webauthn_ceremonies (id, session_hash, kind, user_id, state, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![c.id, c.session_hash, c.kind, c.user_id, c.state, c.expires_at])
            .map(|_| ())
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
        let job = (id.to_owned(), session_hash.to_vec(), kind.to_owned(), now);
        self.write(job, |(id, hash, kind, now), conn| {
            conn.prepare_cached(
                "DELETE FROM webauthn_ceremonies WHERE id = ? AND session_hash = ? AND kind = ? \
                 AND expires_at > ? RETURNING user_id, state",
            )?
            .query_row(params![id, hash, kind, now], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
        })
        .await
    }
}
