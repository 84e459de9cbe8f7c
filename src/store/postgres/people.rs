//! Linked identities', roles' and the disabled state's SQL.

use sqlx::{PgConnection, Row};

use super::{Postgres, database};
use crate::oauth::policy::Memberships;
use crate::store::Result;
use crate::store::people::{
    Linked, PersonAccess, UpstreamLogin, UpstreamSignIn, groups_json, parse_groups,
};

impl Postgres {
    pub async fn sign_in_upstream(&self, s: &UpstreamSignIn<'_>) -> Result<Linked> {
        let groups = groups_json(s.groups);
        self.transaction(async |conn| {
            // Two first sign-ins of one subject (two tabs, two replicas)
            // must not provision two people: they queue here.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("tessera-link {} {}", s.provider, s.subject))
                .execute(&mut *conn)
                .await?;
            if let Some(found) = known(conn, s, &groups).await? {
                return Ok(found);
            }
            provision(conn, s, &groups).await
        })
        .await
    }

    pub async fn person_access(&self, user_id: &str) -> Result<Option<PersonAccess>> {
        let rows = sqlx::query(
            "SELECT u.username, u.disabled_at, u.roles, i.provider, i.groups FROM users u \
             LEFT JOIN user_identities i ON i.user_id = u.id WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        let mut access: Option<PersonAccess> = None;
        for r in &rows {
            let disabled_at: Option<i64> = r.try_get(1).map_err(database)?;
            let roles: String = r.try_get(2).map_err(database)?;
            let a = match &mut access {
                Some(a) => a,
                None => access.insert(PersonAccess {
                    user_id: user_id.to_owned(),
                    username: r.try_get(0).map_err(database)?,
                    disabled: disabled_at.is_some(),
                    memberships: Memberships {
                        roles: crate::store::split_list(&roles),
                        groups: Vec::new(),
                    },
                }),
            };
            let provider: Option<String> = r.try_get(3).map_err(database)?;
            let groups: Option<String> = r.try_get(4).map_err(database)?;
            if let (Some(p), Some(g)) = (provider, groups) {
                a.memberships.groups.push((p, parse_groups(&g)));
            }
        }
        Ok(access)
    }

    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<Option<String>> {
        if !disabled {
            return sqlx::query_scalar(
                "UPDATE users SET disabled_at = NULL WHERE username = $1 RETURNING id",
            )
            .bind(username)
            .fetch_optional(&mut *self.pool.conn().await?)
            .await
            .map_err(database);
        }
        self.transaction(async |conn| {
            let id: Option<String> = sqlx::query_scalar(
                "UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE username = $2 RETURNING id",
            )
            .bind(now)
            .bind(username)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(id) = &id {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                // After the codes: a redemption racing this transaction
                // either lost its code here or committed its family, which
                // this statement (a newer snapshot) then sees and revokes.
                sqlx::query(
                    "DELETE FROM authorization_codes WHERE user_id = $1 AND consumed_at IS NULL",
                )
                .bind(id)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE refresh_families SET revoked_at = $1, revoked_why = 'person disabled' \
                     WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            }
            Ok(id)
        })
        .await
    }

    pub async fn begin_upstream_login(
        &self,
        state_hash: &[u8],
        login: &UpstreamLogin,
        now: i64,
    ) -> Result<()> {
        self.transaction(async |conn| {
            sqlx::query("DELETE FROM upstream_logins WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO upstream_logins (state_hash, provider, session_hash, request, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(state_hash)
            .bind(&login.provider)
            .bind(&login.session_hash)
            .bind(&login.request)
            .bind(login.expires_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn take_upstream_login(&self, state_hash: &[u8]) -> Result<Option<UpstreamLogin>> {
        let row: Option<(String, Vec<u8>, String, i64)> = sqlx::query_as(
            "DELETE FROM upstream_logins WHERE state_hash = $1 \
             RETURNING provider, session_hash, request, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(row.map(
            |(provider, session_hash, request, expires_at)| UpstreamLogin {
                provider,
                session_hash,
                request,
                expires_at,
            },
        ))
    }

    pub async fn set_user_roles(&self, username: &str, roles: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET roles = $1 WHERE username = $2")
            .bind(roles)
            .bind(username)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }
}

/// The person already linked to (provider, subject), with the link's e-mail
/// and groups refreshed (unless they are disabled).
async fn known(
    conn: &mut PgConnection,
    s: &UpstreamSignIn<'_>,
    groups: &str,
) -> sqlx::Result<Option<Linked>> {
    let found: Option<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT u.id, u.username, u.disabled_at FROM user_identities i \
         JOIN users u ON u.id = i.user_id WHERE i.provider = $1 AND i.subject = $2",
    )
    .bind(s.provider)
    .bind(s.subject)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((user_id, username, disabled_at)) = found else {
        return Ok(None);
    };
    if disabled_at.is_some() {
        return Ok(Some(Linked::Disabled { user_id }));
    }
    sqlx::query(
        "UPDATE user_identities SET email = $1, groups = $2, last_used_at = $3 \
         WHERE provider = $4 AND subject = $5",
    )
    .bind(s.email)
    .bind(groups)
    .bind(s.now)
    .bind(s.provider)
    .bind(s.subject)
    .execute(&mut *conn)
    .await?;
    Ok(Some(Linked::Known { user_id, username }))
}

/// A new person, under the first free candidate name, and their link.
async fn provision(
    conn: &mut PgConnection,
    s: &UpstreamSignIn<'_>,
    groups: &str,
) -> sqlx::Result<Linked> {
    for name in s.usernames {
        let created = sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, '', $3) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(s.new_id)
        .bind(name)
        .bind(s.now)
        .execute(&mut *conn)
        .await?;
        if created.rows_affected() == 1 {
            sqlx::query(
                "INSERT INTO user_identities \
                 (provider, subject, user_id, email, groups, created_at, last_used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(s.provider)
            .bind(s.subject)
            .bind(s.new_id)
            .bind(s.email)
            .bind(groups)
            .bind(s.now)
            .execute(&mut *conn)
            .await?;
            return Ok(Linked::Provisioned {
                user_id: s.new_id.to_owned(),
                username: name.clone(),
            });
        }
    }
    Ok(Linked::NoFreeName)
}
