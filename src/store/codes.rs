//! Authorization codes: inserted at consent, consumed atomically at the token
//! endpoint (a guarded `UPDATE … RETURNING`, never check-then-write). A second
//! redemption finds the code consumed and revokes the refresh family the first
//! one created (OAuth 2.1 §4.1.3, "reuse of authorization codes").

use rusqlite::{Connection, OptionalExtension, params};

use super::Store;

pub struct NewCode<'a> {
    pub hash: &'a [u8],
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub redirect_uri: &'a str,
    pub redirect_uri_sent: bool,
    pub code_challenge: &'a str,
    pub scope: &'a str,
    pub resources: &'a [String],
    pub auth_time: i64,
    pub expires_at: i64,
}

/// What a redeemed code grants.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub user_id: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub code_challenge: String,
    pub scope: String,
    pub resources: Vec<String>,
    pub auth_time: i64,
}

#[derive(Debug)]
pub enum Redemption {
    /// First use: the code is now consumed.
    Fresh(CodeGrant),
    /// The code was already used; what the first use issued is now revoked.
    Replayed,
    /// Unknown, expired, or issued to another client.
    Invalid,
}

pub fn split_list(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// Store a new code (group-committed).
    pub async fn insert_code(&self, c: &NewCode<'_>) -> Result<(), sqlx::Error> {
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
            .execute(rusqlite::params![
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
}

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
                super::refresh::revoke_family(conn, &family, "authorization code replayed", now)?;
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

/// What a successful redemption issues, decided (and signed) before the
/// transaction so the writer is held only for the SQL.
pub struct Issue {
    /// The refresh family and its first token, when the client may refresh:
    /// `(family id, token hash, token expiry)`.
    pub family: Option<(String, Vec<u8>, i64)>,
    pub access_jti: String,
    pub access_exp: i64,
}

impl Store {
    /// An unconsumed, unexpired code of this client, read without touching it
    /// (the checks run on it before [`Store::redeem_code`] consumes it).
    pub async fn pending_code(
        &self,
        hash: &[u8],
        client_id: &str,
        now: i64,
    ) -> Result<Option<CodeGrant>, sqlx::Error> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT user_id, redirect_uri, redirect_uri_sent, code_challenge, scope, resources, auth_time \
                 FROM authorization_codes WHERE code_hash = ? AND client_id = ? AND consumed_at IS NULL AND expires_at > ?",
            )?
            .query_row(params![hash, client_id, now], grant_from)
            .optional()
        })
    }

    /// Consume a code (group-committed) and, when it was
    /// fresh and `issue` is given, create the refresh family and remember what
    /// was issued (so a replay can revoke it). Without `issue` the code is
    /// only consumed: a redemption whose checks failed still uses it up.
    pub async fn redeem_code(
        &self,
        hash: &[u8],
        client_id: &str,
        now: i64,
        issue: Option<Issue>,
    ) -> Result<Redemption, sqlx::Error> {
        let job = RedeemJob {
            hash: hash.to_vec(),
            client_id: client_id.to_owned(),
            now,
            issue,
        };
        self.write(job, |j, conn| {
            let outcome = consume(conn, &j.hash, &j.client_id, j.now)?;
            if let (Redemption::Fresh(grant), Some(issue)) = (&outcome, &j.issue) {
                record_issue(conn, j, grant, issue)?;
            }
            Ok(outcome)
        })
        .await
    }
}

struct RedeemJob {
    hash: Vec<u8>,
    client_id: String,
    now: i64,
    issue: Option<Issue>,
}

/// Remember what a fresh redemption issued and create its refresh family.
fn record_issue(
    conn: &Connection,
    j: &RedeemJob,
    grant: &CodeGrant,
    issue: &Issue,
) -> rusqlite::Result<()> {
    let family_id = issue.family.as_ref().map(|f| f.0.as_str());
    if let Some((id, token_hash, token_exp)) = &issue.family {
        conn.prepare_cached(
            "INSERT INTO refresh_families (id, client_id, user_id, scope, resources, auth_time, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            id,
            j.client_id,
            grant.user_id,
            grant.scope,
            grant.resources.join(" "),
            grant.auth_time,
            j.now,
        ])?;
        conn.prepare_cached(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )?
        .execute(params![token_hash, id, j.now, token_exp])?;
    }
    conn.prepare_cached(
        "UPDATE authorization_codes SET family_id = ?, access_jti = ?, access_exp = ? WHERE code_hash = ?",
    )?
    .execute(params![family_id, issue.access_jti, issue.access_exp, j.hash])?;
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
        resources: split_list(&r.get::<_, String>(5)?),
        auth_time: r.get(6)?,
    })
}
