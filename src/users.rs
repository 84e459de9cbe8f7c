//! Creating people and changing their passwords: shared by the CLI and the
//! first-start bootstrap.

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
