//! `tessera user add|list|passwd|remove|role|disable|enable`: the people who
//! sign in. Each change is an audit event (`user_added`,
//! `user_password_changed`, `user_removed`, `user_roles_changed`,
//! `user_disabled`, `user_enabled`) by the administrator, never with a
//! password in it.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;

use crate::config::Config;
use crate::config::people::IdentityProvider;
use crate::state::AppState;
use crate::store::users::User;
use tessera_resource::clock::SystemClock;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is prompted for, or read from stdin.
    Add {
        /// The name they sign in with.
        name: String,
        /// Read the password from the first line of stdin instead of
        /// prompting at the terminal (for scripts).
        #[arg(long)]
        password_stdin: bool,
        /// A local role, for the scope policy (repeat, or separate with commas).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// List users.
    List {
        /// Print JSON (an array of users) instead of one line each.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's password (ends their sessions).
    Passwd {
        /// The user's name.
        name: String,
        /// Read the new password from the first line of stdin instead of
        /// prompting at the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user; their consents and refresh tokens are revoked.
    Remove {
        /// The user's name.
        name: String,
    },
    /// Replace a user's local roles (none: remove them all).
    Role {
        /// The user's name.
        name: String,
        /// The roles, for the scope policy.
        roles: Vec<String>,
    },
    /// Disable a user: they cannot sign in, refresh or get a token; their
    /// sessions end and their refresh-token families are revoked.
    Disable {
        /// The user's name.
        name: String,
    },
    /// Enable a disabled user again (they sign in afresh).
    Enable {
        /// The user's name.
        name: String,
    },
}

impl UserCommand {
    /// Whether the command only reads.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::List { .. })
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!(super::exit::Usage(anyhow::anyhow!(
                "no terminal to ask for the password at: pass --password-stdin and write it to stdin"
            )));
        }
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read the password")?;
        if first != again {
            bail!("the passwords do not match");
        }
        first
    };
    Ok(password)
}

pub async fn run(cmd: UserCommand, config: Config) -> anyhow::Result<()> {
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let result = dispatch(cmd, &state).await;
    state.close().await;
    result
}

async fn dispatch(cmd: UserCommand, state: &AppState) -> anyhow::Result<()> {
    let now = state.clock.now();
    match cmd {
        UserCommand::Add {
            name,
            password_stdin,
            roles,
        } => {
            let roles = crate::users::check_roles(&roles)?;
            let password = read_password(password_stdin)?;
            let id =
                crate::users::add(&state.store, &state.passwords, &name, password, now).await?;
            if !roles.is_empty() {
                state.store.set_user_roles(&name, &roles).await?;
            }
            let fields = json!({"user_id": id, "username": name, "roles": roles, "by": "an administrator (tessera user add)"});
            state
                .audit
                .record_durably("user_added", now, fields)
                .await?;
            say!("created user {name} ({id})");
        }
        UserCommand::List { json } => {
            let users = state.store.list_users().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&users)?);
            }
            for u in users.iter().filter(|_| !json) {
                say!("{}", list_line(u, &state.config.identity_providers));
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            crate::passwords::check_strength(&password)?;
            let hash = state.passwords.hash(password).await?;
            let Some(user) = find(state, &name).await? else {
                bail!(super::exit::Negative(format!("no user named {name}")));
            };
            if !state.store.set_password(&name, &hash, now).await? {
                bail!(super::exit::Negative(format!("no user named {name}")));
            }
            let fields = json!({"user_id": user.id, "username": name, "by": "an administrator (tessera user passwd)",
                                "action": "sessions ended, refresh-token families revoked"});
            state
                .audit
                .record_durably("user_password_changed", now, fields)
                .await?;
            say!("changed the password of {name}");
        }
        UserCommand::Remove { name } => {
            let Some(user) = find(state, &name).await? else {
                bail!(super::exit::Negative(format!("no user named {name}")));
            };
            if !state.store.remove_user(&name).await? {
                bail!(super::exit::Negative(format!("no user named {name}")));
            }
            let fields = json!({"user_id": user.id, "username": name, "by": "an administrator (tessera user remove)"});
            state
                .audit
                .record_durably("user_removed", now, fields)
                .await?;
            say!("removed user {name} and revoked their grants");
        }
        UserCommand::Role { name, roles } => {
            let roles = crate::users::check_roles(&roles)?;
            let Some(user) = find(state, &name).await? else {
                bail!(super::exit::Negative(format!("no user named {name}")));
            };
            state.store.set_user_roles(&name, &roles).await?;
            let fields = json!({"user_id": user.id, "username": name, "roles": roles, "by": "an administrator (tessera user role)"});
            state
                .audit
                .record_durably("user_roles_changed", now, fields)
                .await?;
            say!("{name} now has roles: {}", shown(&roles));
        }
        UserCommand::Disable { name } => {
            let Some(id) = state.store.set_user_disabled(&name, true, now).await? else {
                bail!(super::exit::Negative(format!("no user named {name}")));
            };
            let fields = json!({"user_id": id, "username": name, "by": "an administrator (tessera user disable)",
                                "action": "sessions ended, refresh-token families revoked, unredeemed codes deleted"});
            state
                .audit
                .record_durably("user_disabled", now, fields)
                .await?;
            say!("disabled {name}: their sessions ended and their grants were revoked");
        }
        UserCommand::Enable { name } => {
            let Some(id) = state.store.set_user_disabled(&name, false, now).await? else {
                bail!(super::exit::Negative(format!("no user named {name}")));
            };
            let fields = json!({"user_id": id, "username": name, "by": "an administrator (tessera user enable)"});
            state
                .audit
                .record_durably("user_enabled", now, fields)
                .await?;
            say!("enabled {name}");
        }
    }
    Ok(())
}

/// A person by name, however they sign in.
async fn find(state: &AppState, name: &str) -> anyhow::Result<Option<User>> {
    let users = state.store.list_users().await?;
    Ok(users.into_iter().find(|u| u.username == name))
}

fn shown(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// One line of `user list`: name, id, how the person signs in, roles,
/// state, creation time.
fn list_line(u: &User, providers: &[IdentityProvider]) -> String {
    let mut methods: Vec<String> = Vec::new();
    if u.password {
        methods.push(if u.totp { "password+totp" } else { "password" }.to_owned());
    }
    if u.passkeys > 0 {
        methods.push(format!("passkey ({})", u.passkeys));
    }
    // A provider since removed from the configuration shows by its id.
    methods.extend(u.providers.iter().map(|id| {
        let named = providers.iter().find(|p| &p.id == id);
        named.map_or_else(|| id.clone(), |p| format!("{} ({id})", p.name))
    }));
    let state = match u.disabled_at {
        Some(at) => format!("  DISABLED {}", super::client::timestamp(at)),
        None => String::new(),
    };
    format!(
        "{}  {}  sign-in: {}  roles: {}{state}  created {}",
        u.username,
        u.id,
        shown(&methods),
        shown(&u.roles),
        super::client::timestamp(u.created_at)
    )
}
