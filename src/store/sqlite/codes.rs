//! Authorization codes' SQL: the guarded `UPDATE … RETURNING` that spends a
//! code, and what a replay revokes.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Sqlite, refresh};
use crate::store::Result;
use crate::store::codes::{CodeGrant, Issued, NewCode, Redemption};

struct CodeRow {
    hash: Vec<u8>,
    client_id: String,
    user_id: String,
    redirect_uri: String,
    redirect_uri_sent: bool,
    code_challenge: String,
    scope: String,
    resources: String,
    auth_time: i64,
    expires_at: i64,
}

struct RedeemJob {
    hash: Vec<u8>,
    client_id: String,
    now: i64,
    issued: Option<Issued>,
}

impl Sqlite {
    pub async fn insert_code(&self, c: &NewCode<'_>) -> Result<()> {
        let row = CodeRow {
            hash: c.hash.to_vec(),
            client_id: c.client_id.to_owned(),
            user_id: c.user_id.to_owned(),
            redirect_uri: c.redirect_uri.to_owned(),
            redirect_uri_sent: c.redirect_uri_sent,
            code_challenge: c.code_challenge.to_owned(),
            scope: c.scope.to_owned(),
            resources: c.resources.join(" "),
            auth_time: c.auth_time,
            expires_at: c.expires_at,
        };
        self.write(row, |r, conn| {
            conn.prepare_cached(
                "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, \
                 redirect_uri_sent, code_challenge, scope, resources, auth_time, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                r.hash,
                r.client_id,
                r.user_id,
                r.redirect_uri,
                r.redirect_uri_sent,
                r.code_challenge,
                r.scope,
                r.resources,
                r.auth_time,
                r.expires_at,
            ])
            .map(|_| ())
        })
        .await
    }

    pub async fn pending_code(
        &self,
        hash: &[u8],
        client_id: &str,
        now: i64,
    ) -> Result<Option<CodeGrant>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT user_id, redirect_uri, redirect_uri_sent, code_challenge, scope, resources, auth_time \
                 FROM authorization_codes WHERE code_hash = ? AND client_id = ? AND consumed_at IS NULL \
                 AND expires_at > ?",
            )?
            .query_row(params![hash, client_id, now], grant_from)
            .optional()
        })
    }

    pub async fn redeem_code(
        &self,
        hash: &[u8],
        client_id: &str,
        now: i64,
        issued: Option<Issued>,
    ) -> Result<Redemption> {
        let job = RedeemJob {
            hash: hash.to_vec(),
            client_id: client_id.to_owned(),
            now,
            issued,
        };
        self.write(job, |j, conn| {
            let outcome = consume(conn, &j.hash, &j.client_id, j.now)?;
            if let (Redemption::Fresh(grant), Some(issued)) = (&outcome, &j.issued) {
                record_issued(conn, j, grant, issued)?;
            }
            Ok(outcome)
        })
        .await
    }
}

/// Consume a code inside the caller's transaction.
fn consume(
    conn: &Connection,
    hash: &[u8],
    client_id: &str,
    now: i64,
) -> rusqlite::Result<Redemption> {
    let fresh = conn
        .prepare_cached(
            "UPDATE authorization_codes SET consumed_at = ?1 \
             WHERE code_hash = ?2 AND client_id = ?3 AND consumed_at IS NULL AND expires_at > ?1 \
             RETURNING user_id, redirect_uri, redirect_uri_sent, code_challenge, scope, resources, auth_time",
        )?
        .query_row(params![now, hash, client_id], grant_from)
        .optional()?;
    if let Some(grant) = fresh {
        return Ok(Redemption::Fresh(grant));
    }
    type Used = (Option<i64>, Option<String>, Option<String>, Option<i64>);
    let used: Option<Used> = conn
        .prepare_cached(
            "SELECT consumed_at, family_id, access_jti, access_exp FROM authorization_codes \
             WHERE code_hash = ? AND client_id = ?",
        )?
        .query_row(params![hash, client_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    match used {
        Some((Some(_), family, jti, exp)) => {
            if let Some(family) = family {
                refresh::revoke_family(conn, &family, "authorization code replayed", now)?;
            }
            if let (Some(jti), Some(exp)) = (jti, exp) {
                conn.prepare_cached(
                    "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING",
                )?
                .execute(params![jti, exp])?;
            }
            Ok(Redemption::Replayed)
        }
        _ => Ok(Redemption::Invalid),
    }
}

/// Remember what a fresh redemption issued and create its refresh family.
fn record_issued(
    conn: &Connection,
    j: &RedeemJob,
    grant: &CodeGrant,
    issued: &Issued,
) -> rusqlite::Result<()> {
    let family_id = issued.family.as_ref().map(|f| f.id.as_str());
    if let Some(family) = &issued.family {
        conn.prepare_cached(
            "INSERT INTO refresh_families (id, client_id, user_id, scope, resources, auth_time, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            family.id,
            j.client_id,
            grant.user_id,
            grant.scope,
            grant.resources.join(" "),
            grant.auth_time,
            j.now,
        ])?;
        refresh::add_token(
            conn,
            &family.id,
            &family.token_hash,
            j.now,
            family.token_expires_at,
        )?;
    }
    conn.prepare_cached(
        "UPDATE authorization_codes SET family_id = ?, access_jti = ?, access_exp = ? WHERE code_hash = ?",
    )?
    .execute(params![family_id, issued.access_jti, issued.access_exp, j.hash])?;
    Ok(())
}

/// A code's grant from a row of its seven grant columns, in order.
fn grant_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<CodeGrant> {
    Ok(CodeGrant {
        user_id: r.get(0)?,
        redirect_uri: r.get(1)?,
        redirect_uri_sent: r.get(2)?,
        code_challenge: r.get(3)?,
        scope: r.get(4)?,
        resources: crate::store::split_list(&r.get::<_, String>(5)?),
        auth_time: r.get(6)?,
    })
}
