//! Linked identities', roles' and the disabled state's SQL.

use rusqlite::{Connection, OptionalExtension, params};

use super::Sqlite;
use crate::oauth::policy::Memberships;
use crate::store::Result;
use crate::store::people::{
    Linked, PersonAccess, UpstreamLogin, UpstreamSignIn, groups_json, parse_groups,
};

/// An upstream sign-in, owned for the write queue.
struct SignIn {
    provider: String,
    subject: String,
    email: Option<String>,
    groups: String,
    new_id: String,
    usernames: Vec<String>,
    now: i64,
}

impl Sqlite {
    pub async fn sign_in_upstream(&self, s: &UpstreamSignIn<'_>) -> Result<Linked> {
        let row = SignIn {
            provider: s.provider.to_owned(),
            subject: s.subject.to_owned(),
            email: s.email.map(str::to_owned),
            groups: groups_json(s.groups),
            new_id: s.new_id.to_owned(),
            usernames: s.usernames.to_vec(),
            now: s.now,
        };
        self.write(row, |r, conn| {
            if let Some(found) = known(conn, r)? {
                return Ok(found);
            }
            provision(conn, r)
        })
        .await
    }

    pub async fn person_access(&self, user_id: &str) -> Result<Option<PersonAccess>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT u.username, u.disabled_at, u.roles, i.provider, i.groups FROM users u \
                 LEFT JOIN user_identities i ON i.user_id = u.id WHERE u.id = ?",
            )?;
            let rows = stmt.query_map([user_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            let mut access: Option<PersonAccess> = None;
            for row in rows {
                let (username, disabled_at, roles, provider, groups) = row?;
                let a = access.get_or_insert_with(|| PersonAccess {
                    user_id: user_id.to_owned(),
                    username,
                    disabled: disabled_at.is_some(),
                    memberships: Memberships {
                        roles: crate::store::split_list(&roles),
                        groups: Vec::new(),
                    },
                });
                if let (Some(p), Some(g)) = (provider, groups) {
                    a.memberships.groups.push((p, parse_groups(&g)));
                }
            }
            Ok(access)
        })
    }

    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<Option<String>> {
        let data = (username.to_owned(), disabled, now);
        self.write(data, |(username, disabled, now), conn| {
            if !disabled {
                return conn
                    .prepare_cached("UPDATE users SET disabled_at = NULL WHERE username = ? RETURNING id")?
                    .query_row([username], |r| r.get(0))
                    .optional();
            }
            let id: Option<String> = conn
                .prepare_cached(
                    "UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE username = ? RETURNING id",
                )?
                .query_row(params![now, username], |r| r.get(0))
                .optional()?;
            if let Some(id) = &id {
                conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?")?
                    .execute([id])?;
                conn.prepare_cached(
                    "DELETE FROM authorization_codes WHERE user_id = ? AND consumed_at IS NULL",
                )?
                .execute([id])?;
                conn.prepare_cached(
                    "UPDATE refresh_families SET revoked_at = ?, revoked_why = 'person disabled' \
                     WHERE user_id = ? AND revoked_at IS NULL",
                )?
                .execute(params![now, id])?;
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
        let data = (state_hash.to_vec(), login.clone(), now);
        self.write(data, |(hash, l, now), conn| {
            conn.prepare_cached("DELETE FROM upstream_logins WHERE expires_at <= ?")?
                .execute([now])?;
            conn.prepare_cached(
                "INSERT INTO upstream_logins (state_hash, provider, session_hash, request, expires_at) \
                 VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![hash, l.provider, l.session_hash, l.request, l.expires_at])
            .map(|_| ())
        })
        .await
    }

    pub async fn take_upstream_login(&self, state_hash: &[u8]) -> Result<Option<UpstreamLogin>> {
        self.write(state_hash.to_vec(), |hash, conn| {
            conn.prepare_cached(
                "DELETE FROM upstream_logins WHERE state_hash = ? \
                 RETURNING provider, session_hash, request, expires_at",
            )?
            .query_row([hash], |r| {
                Ok(UpstreamLogin {
                    provider: r.get(0)?,
                    session_hash: r.get(1)?,
                    request: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            })
            .optional()
        })
        .await
    }

    pub async fn set_user_roles(&self, username: &str, roles: &str) -> Result<bool> {
        self.write(
            (username.to_owned(), roles.to_owned()),
            |(username, roles), conn| {
                conn.prepare_cached("UPDATE users SET roles = ? WHERE username = ?")?
                    .execute([roles, username])
                    .map(|n| n == 1)
            },
        )
        .await
    }
}

/// The person already linked to the sign-in's (provider, subject), with the
/// link's e-mail and groups refreshed (unless they are disabled).
fn known(conn: &Connection, r: &SignIn) -> rusqlite::Result<Option<Linked>> {
    let found: Option<(String, String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.disabled_at FROM user_identities i \
             JOIN users u ON u.id = i.user_id WHERE i.provider = ? AND i.subject = ?",
        )?
        .query_row([&r.provider, &r.subject], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    let Some((user_id, username, disabled_at)) = found else {
        return Ok(None);
    };
    if disabled_at.is_some() {
        return Ok(Some(Linked::Disabled { user_id }));
    }
    conn.prepare_cached(
        "UPDATE user_identities SET email = ?, groups = ?, last_used_at = ? \
         WHERE provider = ? AND subject = ?",
    )?
    .execute(params![r.email, r.groups, r.now, r.provider, r.subject])?;
    Ok(Some(Linked::Known { user_id, username }))
}

/// A new person, under the first free candidate name, and their link.
fn provision(conn: &Connection, r: &SignIn) -> rusqlite::Result<Linked> {
    for name in &r.usernames {
        let created = conn
            .prepare_cached(
                "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, '', ?) \
                 ON CONFLICT (username) DO NOTHING",
            )?
            .execute(params![r.new_id, name, r.now])?;
        if created == 1 {
            conn.prepare_cached(
                "INSERT INTO user_identities \
                 (provider, subject, user_id, email, groups, created_at, last_used_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                r.provider, r.subject, r.new_id, r.email, r.groups, r.now, r.now
            ])?;
            return Ok(Linked::Provisioned {
                user_id: r.new_id.clone(),
                username: name.clone(),
            });
        }
    }
    Ok(Linked::NoFreeName)
}
