//! Refresh families' SQL: rotation by a guarded `UPDATE … RETURNING`, the
//! grace window, and revocation.

use rusqlite::{Connection, OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::refresh::{Family, FamilySummary, NotLive, Replay, Rotate, Rotation};

/// Revoke a family inside the caller's transaction.
pub(super) fn revoke_family(
    conn: &Connection,
    id: &str,
    why: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE refresh_families SET revoked_at = ?, revoked_why = ? WHERE id = ? AND revoked_at IS NULL",
    )?
    .execute(params![now, why, id])?;
    Ok(())
}

/// Add a token to a family inside the caller's transaction.
pub(super) fn add_token(
    conn: &Connection,
    family_id: &str,
    hash: &[u8],
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
    )?
    .execute(params![hash, family_id, now, expires_at])?;
    Ok(())
}

struct RotateJob {
    old: Vec<u8>,
    client_id: String,
    new_hash: Vec<u8>,
    new_exp: i64,
    now: i64,
    grace: i64,
}

impl Sqlite {
    pub async fn rotate_refresh(&self, r: &Rotate<'_>) -> Result<Rotation> {
        let job = RotateJob {
            old: r.presented.to_vec(),
            client_id: r.client_id.to_owned(),
            new_hash: r.next.to_vec(),
            new_exp: r.next_expires_at,
            now: r.now,
            grace: r.grace,
        };
        self.write(job, rotate).await
    }

    pub async fn revoke_family_by_id(&self, id: &str, why: &'static str, now: i64) -> Result<()> {
        self.write((id.to_owned(), why, now), |(id, why, now), conn| {
            revoke_family(conn, id, why, *now)
        })
        .await
    }

    pub async fn revoke_families(&self, client_id: &str, why: &str, now: i64) -> Result<u64> {
        let job = (client_id.to_owned(), why.to_owned(), now);
        self.write(job, |(client_id, why, now), conn| {
            conn.prepare_cached(
                "UPDATE refresh_families SET revoked_at = ?, revoked_why = ? \
                 WHERE client_id = ? AND revoked_at IS NULL",
            )?
            .execute(params![now, why, client_id])
            .map(|n| n as u64)
        })
        .await
    }

    pub async fn families_of_client(
        &self,
        client_id: &str,
        now: i64,
    ) -> Result<Vec<FamilySummary>> {
        let client_id = client_id.to_owned();
        self.scan(move |conn| {
            conn.prepare(
                "SELECT f.id, u.username, f.scope, f.created_at, f.revoked_at, f.revoked_why, \
                 (SELECT COUNT(*) FROM refresh_tokens t WHERE t.family_id = f.id AND t.rotated_at IS NULL \
                  AND t.expires_at > ?) AS live_tokens \
                 FROM refresh_families f LEFT JOIN users u ON u.id = f.user_id WHERE f.client_id = ? \
                 ORDER BY f.created_at DESC LIMIT 1000",
            )?
            .query_map(params![now, client_id], |r| {
                Ok(FamilySummary {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    scope: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                    revoked_why: r.get(5)?,
                    live_tokens: r.get(6)?,
                })
            })?
            .collect()
        })
        .await
    }
}

/// The common case: the presented token is live. Mark it rotated (the
/// guarded `UPDATE` is the check: only one of two racing rotations changes
/// the row) and add its successor to the same family.
/// The correlated EXISTS checks the token's own family by primary key;
/// `family_id IN (SELECT … WHERE client_id = ?)` would scan every family of
/// the client.
fn rotate(j: &RotateJob, conn: &Connection) -> rusqlite::Result<Rotation> {
    let family_id: Option<String> = conn
        .prepare_cached(
            "UPDATE refresh_tokens SET rotated_at = ?1 \
             WHERE token_hash = ?2 AND rotated_at IS NULL AND expires_at > ?1 AND EXISTS \
             (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id AND f.client_id = ?3 \
              AND f.revoked_at IS NULL) \
             RETURNING family_id",
        )?
        .query_row(params![j.now, j.old, j.client_id], |r| r.get(0))
        .optional()?;
    match family_id {
        Some(id) => {
            supersede_branches(conn, &id, j.now)?;
            add_token(conn, &id, &j.new_hash, j.now, j.new_exp)?;
            Ok(Rotation::Rotated(family(conn, &id)?))
        }
        // Not live: a grace-window replay, reuse, or nothing (rare).
        None => replayed(conn, j),
    }
}

/// The branch that rotates is the family's only chain from now on: every
/// other live token (a grace-window replay's branch) is superseded, and
/// coming back with one is reuse. Reads the partial index of live tokens,
/// so a long history costs nothing.
fn supersede_branches(conn: &Connection, family_id: &str, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE refresh_tokens SET rotated_at = ?1, superseded = 1 \
         WHERE family_id = ?2 AND rotated_at IS NULL",
    )?
    .execute(params![now, family_id])?;
    Ok(())
}

impl Sqlite {
    pub async fn refresh_family(&self, token: &[u8], client_id: &str) -> Result<Option<Family>> {
        self.read(|conn| {
            let id: Option<String> = conn
                .prepare_cached(
                    "SELECT t.family_id FROM refresh_tokens t JOIN refresh_families f \
                     ON f.id = t.family_id WHERE t.token_hash = ? AND f.client_id = ?",
                )?
                .query_row(params![token, client_id], |r| r.get(0))
                .optional()?;
            id.map(|id| family(conn, &id)).transpose()
        })
    }
}

fn family(conn: &Connection, id: &str) -> rusqlite::Result<Family> {
    conn.prepare_cached(
        "SELECT id, user_id, scope, resources, auth_time, created_at FROM refresh_families WHERE id = ?",
    )?
    .query_row([id], |r| {
        Ok(Family {
            id: r.get(0)?,
            user_id: r.get(1)?,
            scope: r.get(2)?,
            resources: crate::store::split_list(&r.get::<_, String>(3)?),
            auth_time: r.get(4)?,
            created_at: r.get(5)?,
        })
    })
}

/// The presented token was not live: a grace-window replay, reuse, or nothing.
fn replayed(conn: &Connection, j: &RotateJob) -> rusqlite::Result<Rotation> {
    let row: Option<NotLive> = conn
        .prepare_cached(
            "SELECT t.family_id, f.client_id, t.rotated_at, t.superseded, f.revoked_at \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = ?",
        )?
        .query_row(params![j.old], |r| {
            Ok(NotLive {
                family_id: r.get(0)?,
                client_id: r.get(1)?,
                rotated_at: r.get(2)?,
                superseded: r.get(3)?,
                revoked_at: r.get(4)?,
            })
        })
        .optional()?;
    let Some(presented) = row else {
        return Ok(Rotation::Invalid);
    };
    match presented.verdict(&j.client_id, j.now, j.grace) {
        Replay::Branch => {
            add_token(conn, &presented.family_id, &j.new_hash, j.now, j.new_exp)?;
            Ok(Rotation::Rotated(family(conn, &presented.family_id)?))
        }
        Replay::Reuse(why) => {
            revoke_family(conn, &presented.family_id, why, j.now)?;
            tracing::warn!(family.id = %presented.family_id, client.id = %j.client_id, why, "refresh token reuse detected: family revoked");
            Ok(Rotation::Reused)
        }
        Replay::Invalid => Ok(Rotation::Invalid),
    }
}
