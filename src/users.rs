//! Creating people and changing their passwords: shared by the CLI and the
//! first-start bootstrap; and what a person may grant under the scope
//! policy ([`grantable`]).

use crate::oauth::policy::{Allowed, ScopePolicy, allowed_for};
use crate::passwords::{Passwords, check_strength};
use crate::secrets::random_token;
use crate::store::Store;

/// Create `username` with `password`; fails if the name is taken.
pub async fn add(
    store: &Store,
    passwords: &Passwords,
    username: &str,
    password: String,
    now: i64,
) -> anyhow::Result<String> {
    check_name(username)?;
    check_strength(&password)?;
    let hash = passwords.hash(password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    if !store.create_user(&id, username, &hash, now).await? {
        anyhow::bail!("a user named '{username}' already exists");
    }
    Ok(id)
}

fn check_name(username: &str) -> anyhow::Result<()> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        anyhow::bail!("user names are 1–64 letters, digits, '.', '_', '-' or '@'");
    }
    Ok(())
}

/// On a database without users, create `admin` with a random password and
/// return that password, to be shown once.
pub async fn bootstrap_admin(
    store: &Store,
    passwords: &Passwords,
    now: i64,
) -> anyhow::Result<Option<String>> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let password = random_token(15)?;
    let hash = passwords.hash(password.clone()).await?;
    let id = uuid::Uuid::new_v4().to_string();
    // Replicas starting together on a new database race to create it: the
    // one that loses has nothing to show.
    if !store.create_user(&id, "admin", &hash, now).await? {
        return Ok(None);
    }
    Ok(Some(password))
}

/// What `user_id` may grant under `policy` (the configured
/// `[scope_policy]`; `None`: no policy, anything): the one question the
/// consent page, the code and every refresh ask. `Ok(None)` when there is
/// no such person or they are disabled: they may grant nothing. Reads the
/// person's roles and linked groups in one point lookup.
pub async fn grantable(
    store: &Store,
    policy: Option<&ScopePolicy>,
    user_id: &str,
) -> crate::store::Result<Option<Allowed>> {
    let Some(person) = store.person_access(user_id).await? else {
        return Ok(None);
    };
    if person.disabled {
        return Ok(None);
    }
    Ok(Some(allowed_for(policy, &person.memberships)))
}

/// Check and normalise local roles (`tessera user add --role`, `user role`).
pub fn check_roles(roles: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(roles.len());
    for role in roles.iter().flat_map(|r| r.split([',', ' '])) {
        if role.is_empty() {
            continue;
        }
        if !crate::config::people::is_plain_name(role) {
            anyhow::bail!("role '{role}' must be 1–64 of a-z, 0-9, '-', '_', '.'");
        }
        if !out.iter().any(|r| r == role) {
            out.push(role.to_owned());
        }
    }
    Ok(out)
}
