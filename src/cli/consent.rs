//! `tessera consent list|revoke`: what people have allowed which clients.

use std::sync::Arc;

use anyhow::bail;
use clap::Subcommand;

use crate::config::Config;
use crate::state::AppState;
use tessera_resource::clock::SystemClock;

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// List a user's remembered consents.
    List {
        /// The user's name.
        user: String,
        /// Print JSON (an array of consents) instead of one line each.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a user's consent to a client; its refresh tokens stop working at once.
    Revoke {
        /// The user's name.
        user: String,
        /// The client's id, as `consent list` prints it.
        client_id: String,
    },
}

impl ConsentCommand {
    /// Whether the command only reads.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::List { .. })
    }
}

pub async fn run(cmd: ConsentCommand, config: Config) -> anyhow::Result<()> {
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let result = dispatch(cmd, &state).await;
    state.close().await;
    result
}

async fn user_id(state: &AppState, name: &str) -> anyhow::Result<String> {
    match state
        .store
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.username == name)
    {
        Some(u) => Ok(u.id),
        None => bail!(super::exit::Negative(format!("no user named {name}"))),
    }
}

async fn dispatch(cmd: ConsentCommand, state: &AppState) -> anyhow::Result<()> {
    match cmd {
        ConsentCommand::List { user, json } => {
            let consents = state
                .store
                .consents_of(&user_id(state, &user).await?)
                .await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&consents)?);
            }
            for c in consents.iter().filter(|_| !json) {
                let resource = if c.resource.is_empty() {
                    "(no resource: given before consent was per resource; matches nothing)"
                } else {
                    &c.resource
                };
                say!(
                    "{}  {}  {}  {}",
                    c.client_id,
                    resource,
                    c.scope,
                    super::client::timestamp(c.updated_at)
                );
            }
        }
        ConsentCommand::Revoke { user, client_id } => {
            let id = user_id(state, &user).await?;
            if !state.store.revoke_consent(&id, &client_id).await? {
                bail!(super::exit::Negative(format!(
                    "{user} has no consent for client {client_id}"
                )));
            }
            let fields = serde_json::json!({"user_id": id, "client_id": client_id,
                "by": "an administrator (tessera consent revoke)", "action": "consent and its refresh-token families revoked"});
            let now = state.clock.now();
            state
                .audit
                .record_durably("consent_revoked", now, fields)
                .await?;
            say!("revoked {user}'s consent for {client_id} and its refresh tokens");
        }
    }
    Ok(())
}
