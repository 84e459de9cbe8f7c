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
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, \
                     redirect_uri_sent, code_challenge, scope, resources, auth_time, expires_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&r.hash)
                .bind(&r.client_id)
                .bind(&r.user_id)
                .bind(&r.redirect_uri)
                .bind(r.redirect_uri_sent)
                .bind(&r.code_challenge)
                .bind(&r.scope)
                .bind(&r.resources)
                .bind(r.auth_time)
                .bind(r.expires_at)
                .execute(conn)
                .await
                .map(|_| ())
            })
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
async fn consume(
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
        return Ok(Redemption::Fresh(grant_of(&r)));
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
        let row = sqlx::query(
            "SELECT user_id, redirect_uri, redirect_uri_sent, code_challenge, scope, resources, auth_time \
             FROM authorization_codes WHERE code_hash = ? AND client_id = ? AND consumed_at IS NULL AND expires_at > ?",
        )
        .bind(hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(grant_of))
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
            Box::pin(async move {
                let outcome = consume(conn, &j.hash, &j.client_id, j.now).await?;
                if let (Redemption::Fresh(grant), Some(issue)) = (&outcome, &j.issue) {
                    record_issue(conn, &j.hash, &j.client_id, grant, issue, j.now).await?;
                }
                Ok(outcome)
            })
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

/// Remember what a fresh redemption issued and create its refresh family:
/// one round trip to the connection's thread (sqlx runs every statement of
/// the string, binding `?N` across them).
async fn record_issue(
    conn: &mut SqliteConnection,
    hash: &[u8],
    client_id: &str,
    grant: &CodeGrant,
    issue: &Issue,
    now: i64,
) -> Result<(), sqlx::Error> {
    const LINK: &str = "UPDATE authorization_codes SET family_id = ?1, access_jti = ?2, access_exp = ?3 WHERE code_hash = ?4";
    const FAMILY_AND_LINK: &str = "INSERT INTO refresh_families \
         (id, client_id, user_id, scope, resources, auth_time, created_at) VALUES (?1, ?5, ?6, ?7, ?8, ?9, ?10); \
         INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES (?11, ?1, ?10, ?12); \
         UPDATE authorization_codes SET family_id = ?1, access_jti = ?2, access_exp = ?3 WHERE code_hash = ?4";
    let link = |sql| {
        sqlx::query(sql)
            .bind(issue.family.as_ref().map(|f| f.0.as_str()))
            .bind(&issue.access_jti)
            .bind(issue.access_exp)
            .bind(hash)
    };
    let query = match &issue.family {
        None => link(LINK),
        Some((_, token_hash, token_exp)) => link(FAMILY_AND_LINK)
            .bind(client_id)
            .bind(&grant.user_id)
            .bind(&grant.scope)
            .bind(grant.resources.join(" "))
            .bind(grant.auth_time)
            .bind(now)
            .bind(token_hash)
            .bind(token_exp),
    };
    query.execute(conn).await?;
    Ok(())
}

fn grant_of(r: &sqlx::sqlite::SqliteRow) -> CodeGrant {
    CodeGrant {
        user_id: r.get("user_id"),
        redirect_uri: r.get("redirect_uri"),
        redirect_uri_sent: r.get("redirect_uri_sent"),
        code_challenge: r.get("code_challenge"),
        scope: r.get("scope"),
        resources: split_list(r.get("resources")),
        auth_time: r.get("auth_time"),
    }
}
