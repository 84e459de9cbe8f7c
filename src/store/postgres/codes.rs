//! Authorization codes' SQL: the guarded `UPDATE … RETURNING` that spends a
//! code (of two replicas redeeming it at once, the second finds it spent),
//! and what a replay revokes.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{Postgres, database, refresh};
use crate::store::Result;
use crate::store::codes::{CodeGrant, Issued, NewCode, Redemption};

/// A code's grant columns, in the order [`grant_from`] reads them.
macro_rules! grant_columns {
    () => {
        "user_id, redirect_uri, redirect_uri_sent, code_challenge, scope, resources, auth_time"
    };
}

fn grant_from(r: &PgRow) -> sqlx::Result<CodeGrant> {
    Ok(CodeGrant {
        user_id: r.try_get(0)?,
        redirect_uri: r.try_get(1)?,
        redirect_uri_sent: r.try_get(2)?,
        code_challenge: r.try_get(3)?,
        scope: r.try_get(4)?,
        resources: crate::store::split_list(&r.try_get::<String, _>(5)?),
        auth_time: r.try_get(6)?,
    })
}

impl Postgres {
    pub async fn insert_code(&self, c: &NewCode<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, redirect_uri_sent, \
             code_challenge, scope, resources, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(c.hash)
        .bind(c.client_id)
        .bind(c.user_id)
        .bind(c.redirect_uri)
        .bind(c.redirect_uri_sent)
        .bind(c.code_challenge)
        .bind(c.scope)
        .bind(c.resources.join(" "))
        .bind(c.auth_time)
        .bind(c.expires_at)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map(|_| ())
        .map_err(database)
    }

    pub async fn pending_code(
        &self,
        hash: &[u8],
        client_id: &str,
        now: i64,
    ) -> Result<Option<CodeGrant>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            grant_columns!(),
            " FROM authorization_codes WHERE code_hash = $1 AND client_id = $2 \
             AND consumed_at IS NULL AND expires_at > $3"
        ))
        .bind(hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        r.as_ref().map(grant_from).transpose().map_err(database)
    }

    pub async fn redeem_code(
        &self,
        hash: &[u8],
        client_id: &str,
        now: i64,
        issued: Option<Issued>,
    ) -> Result<Redemption> {
        self.transaction(async |conn| {
            let outcome = consume(conn, hash, client_id, now).await?;
            if let (Redemption::Fresh(grant), Some(issued)) = (&outcome, &issued) {
                record_issued(conn, hash, client_id, now, grant, issued).await?;
            }
            Ok(outcome)
        })
        .await
    }
}

/// Consume a code inside the caller's transaction.
async fn consume(
    conn: &mut PgConnection,
    hash: &[u8],
    client_id: &str,
    now: i64,
) -> sqlx::Result<Redemption> {
    let fresh = sqlx::query(concat!(
        "UPDATE authorization_codes SET consumed_at = $1 \
         WHERE code_hash = $2 AND client_id = $3 AND consumed_at IS NULL AND expires_at > $1 \
         RETURNING ",
        grant_columns!()
    ))
    .bind(now)
    .bind(hash)
    .bind(client_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = fresh {
        return Ok(Redemption::Fresh(grant_from(&r)?));
    }
    type Used = (Option<i64>, Option<String>, Option<String>, Option<i64>);
    let used: Option<Used> = sqlx::query_as(
        "SELECT consumed_at, family_id, access_jti, access_exp FROM authorization_codes \
         WHERE code_hash = $1 AND client_id = $2",
    )
    .bind(hash)
    .bind(client_id)
    .fetch_optional(&mut *conn)
    .await?;
    match used {
        Some((Some(_), family, jti, exp)) => {
            if let Some(family) = family {
                refresh::revoke_family(conn, &family, "authorization code replayed", now).await?;
            }
            if let (Some(jti), Some(exp)) = (jti, exp) {
                sqlx::query(
                    "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind(exp)
                .execute(&mut *conn)
                .await?;
            }
            Ok(Redemption::Replayed)
        }
        _ => Ok(Redemption::Invalid),
    }
}

/// Remember what a fresh redemption issued and create its refresh family.
async fn record_issued(
    conn: &mut PgConnection,
    hash: &[u8],
    client_id: &str,
    now: i64,
    grant: &CodeGrant,
    issued: &Issued,
) -> sqlx::Result<()> {
    let family_id = issued.family.as_ref().map(|f| f.id.as_str());
    if let Some(family) = &issued.family {
        sqlx::query(
            "INSERT INTO refresh_families (id, client_id, user_id, scope, resources, auth_time, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&family.id)
        .bind(client_id)
        .bind(&grant.user_id)
        .bind(&grant.scope)
        .bind(grant.resources.join(" "))
        .bind(grant.auth_time)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        refresh::add_token(
            conn,
            &family.id,
            &family.token_hash,
            now,
            family.token_expires_at,
        )
        .await?;
    }
    sqlx::query(
        "UPDATE authorization_codes SET family_id = $1, access_jti = $2, access_exp = $3 WHERE code_hash = $4",
    )
    .bind(family_id)
    .bind(&issued.access_jti)
    .bind(issued.access_exp)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
