//! Authorization codes: inserted at consent, consumed atomically at the token
//! endpoint (a guarded `UPDATE … RETURNING`, never check-then-write). A second
//! redemption finds the code consumed and revokes the refresh family the first
//! one created (OAuth 2.1 §4.1.3, "reuse of authorization codes").

use sqlx::{Row, SqliteConnection};

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
    pub async fn insert_code(&self, c: &NewCode<'_>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, redirect_uri_sent, \
             code_challenge, scope, resources, auth_time, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(self.writer())
        .await?;
        Ok(())
    }
}

/// Consume a code inside the caller's transaction.
pub async fn consume(
    conn: &mut SqliteConnection,
    hash: &[u8],
    client_id: &str,
    now: i64,
) -> Result<Redemption, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE authorization_codes SET consumed_at = ? \
         WHERE code_hash = ? AND client_id = ? AND consumed_at IS NULL AND expires_at > ? \
         RETURNING user_id, redirect_uri, redirect_uri_sent, code_challenge, scope, resources, auth_time",
    )
    .bind(now)
    .bind(hash)
    .bind(client_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = row {
        return Ok(Redemption::Fresh(CodeGrant {
            user_id: r.get("user_id"),
            redirect_uri: r.get("redirect_uri"),
            redirect_uri_sent: r.get("redirect_uri_sent"),
            code_challenge: r.get("code_challenge"),
            scope: r.get("scope"),
            resources: split_list(r.get("resources")),
            auth_time: r.get("auth_time"),
        }));
    }
    type Used = (Option<i64>, Option<String>, Option<String>, Option<i64>);
    let used: Option<Used> = sqlx::query_as(
        "SELECT consumed_at, family_id, access_jti, access_exp FROM authorization_codes \
         WHERE code_hash = ? AND client_id = ?",
    )
    .bind(hash)
    .bind(client_id)
    .fetch_optional(&mut *conn)
    .await?;
    match used {
        Some((Some(_), family, jti, exp)) => {
            if let Some(family) = family {
                super::refresh::revoke_family(conn, &family, "authorization code replayed", now)
                    .await?;
            }
            if let (Some(jti), Some(exp)) = (jti, exp) {
                sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING")
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

/// Remember the access token a redemption issued.
pub async fn link_access_token(
    conn: &mut SqliteConnection,
    hash: &[u8],
    jti: &str,
    exp: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE authorization_codes SET access_jti = ?, access_exp = ? WHERE code_hash = ?",
    )
    .bind(jti)
    .bind(exp)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Remember which refresh family a redemption created.
pub async fn link_family(
    conn: &mut SqliteConnection,
    hash: &[u8],
    family_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE authorization_codes SET family_id = ? WHERE code_hash = ?")
        .bind(family_id)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}
