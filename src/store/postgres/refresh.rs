//! Refresh families' SQL: rotation by a guarded `UPDATE … RETURNING`, the
//! grace window, and revocation. Two replicas rotating one token at once:
//! the second waits for the first's row lock, finds the token rotated, and
//! takes the grace-window path, exactly as a second request in one process.

use sqlx::{PgConnection, Row};

use super::{Postgres, database};
use crate::store::Result;
use crate::store::refresh::{Family, FamilySummary, NotLive, Replay, Rotate, Rotation};

/// Revoke a family inside the caller's transaction.
pub(super) async fn revoke_family(
    conn: &mut PgConnection,
    id: &str,
    why: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_families SET revoked_at = $1, revoked_why = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(why)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Add a token to a family inside the caller's transaction.
pub(super) async fn add_token(
    conn: &mut PgConnection,
    family_id: &str,
    hash: &[u8],
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(hash)
        .bind(family_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Postgres {
    pub async fn rotate_refresh(&self, r: &Rotate<'_>) -> Result<Rotation> {
        self.transaction(async |conn| rotate(conn, r).await).await
    }

    pub async fn revoke_family_by_id(&self, id: &str, why: &'static str, now: i64) -> Result<()> {
        self.transaction(async |conn| revoke_family(conn, id, why, now).await)
            .await
    }

    pub async fn revoke_families(&self, client_id: &str, why: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1, revoked_why = $2 WHERE client_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(why)
        .bind(client_id)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected())
    }

    pub async fn families_of_client(
        &self,
        client_id: &str,
        now: i64,
    ) -> Result<Vec<FamilySummary>> {
        let rows = sqlx::query(
            "SELECT f.id, u.username, f.scope, f.created_at, f.revoked_at, f.revoked_why, \
             (SELECT COUNT(*) FROM refresh_tokens t WHERE t.family_id = f.id AND t.rotated_at IS NULL \
              AND t.expires_at > $1) AS live_tokens \
             FROM refresh_families f LEFT JOIN users u ON u.id = f.user_id WHERE f.client_id = $2 \
             ORDER BY f.created_at DESC LIMIT 1000",
        )
        .bind(now)
        .bind(client_id)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        rows.iter()
            .map(|r| {
                Ok(FamilySummary {
                    id: r.try_get(0)?,
                    username: r.try_get(1)?,
                    scope: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    revoked_at: r.try_get(4)?,
                    revoked_why: r.try_get(5)?,
                    live_tokens: r.try_get(6)?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(database)
    }
}

/// The common case: the presented token is live. Mark it rotated (the
/// guarded `UPDATE` is the check) and add its successor to the same family.
async fn rotate(conn: &mut PgConnection, j: &Rotate<'_>) -> sqlx::Result<Rotation> {
    let family_id: Option<String> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET rotated_at = $1 \
         WHERE token_hash = $2 AND rotated_at IS NULL AND expires_at > $1 AND EXISTS \
         (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id AND f.client_id = $3 \
          AND f.revoked_at IS NULL) \
         RETURNING family_id",
    )
    .bind(j.now)
    .bind(j.presented)
    .bind(j.client_id)
    .fetch_optional(&mut *conn)
    .await?;
    match family_id {
        Some(id) => {
            supersede_branches(conn, &id, j.now).await?;
            add_token(conn, &id, j.next, j.now, j.next_expires_at).await?;
            Ok(Rotation::Rotated(family(conn, &id).await?))
        }
        None => replayed(conn, j).await,
    }
}

impl Postgres {
    pub async fn refresh_family(&self, token: &[u8], client_id: &str) -> Result<Option<Family>> {
        let mut conn = self.pool.conn().await?;
        let id: Option<(String,)> = sqlx::query_as(
            "SELECT t.family_id FROM refresh_tokens t JOIN refresh_families f \
             ON f.id = t.family_id WHERE t.token_hash = $1 AND f.client_id = $2",
        )
        .bind(token)
        .bind(client_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(database)?;
        match id {
            Some((id,)) => family(&mut conn, &id).await.map(Some).map_err(database),
            None => Ok(None),
        }
    }
}

async fn family(conn: &mut PgConnection, id: &str) -> sqlx::Result<Family> {
    let r = sqlx::query(
        "SELECT id, user_id, scope, resources, auth_time, created_at FROM refresh_families WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Family {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        scope: r.try_get(2)?,
        resources: crate::store::split_list(&r.try_get::<String, _>(3)?),
        auth_time: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

/// The branch that rotates is the family's only chain from now on: every
/// other live token (a grace-window replay's branch) is superseded (see
/// `store::refresh`). Reads the partial index of live tokens.
async fn supersede_branches(
    conn: &mut PgConnection,
    family_id: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET rotated_at = $1, superseded = TRUE \
         WHERE family_id = $2 AND rotated_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The presented token was not live: a grace-window replay, reuse, or nothing.
async fn replayed(conn: &mut PgConnection, j: &Rotate<'_>) -> sqlx::Result<Rotation> {
    let row = sqlx::query(
        "SELECT t.family_id, f.client_id, t.rotated_at, t.superseded, f.revoked_at \
         FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = $1",
    )
    .bind(j.presented)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(Rotation::Invalid);
    };
    let presented = NotLive {
        family_id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        rotated_at: r.try_get(2)?,
        superseded: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
    };
    match presented.verdict(j.client_id, j.now, j.grace) {
        Replay::Branch => {
            let id = &presented.family_id;
            add_token(conn, id, j.next, j.now, j.next_expires_at).await?;
            Ok(Rotation::Rotated(family(conn, id).await?))
        }
        Replay::Reuse(why) => {
            revoke_family(conn, &presented.family_id, why, j.now).await?;
            tracing::warn!(family.id = %presented.family_id, client.id = %j.client_id, why, "refresh token reuse detected: family revoked");
            Ok(Rotation::Reused)
        }
        Replay::Invalid => Ok(Rotation::Invalid),
    }
}
