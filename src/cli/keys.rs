//! `tessera keys list|rotate`: the signing keys in the database.

use clap::Subcommand;

use crate::config::Config;
use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their schedule; the one that signs now is marked.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Generate the next key. It is published at once and starts signing after
    /// `signing.publish_lead`, so cached key sets learn it first.
    Rotate {
        /// Sign with the new key right away (e.g. after a key compromise);
        /// resource servers with a cached key set will refetch on the unknown kid.
        #[arg(long)]
        now: bool,
    },
}

pub async fn run(cmd: KeysCommand, config: Config) -> anyhow::Result<()> {
    // Building the state creates the first key if there is none yet, so the
    // list always shows the key `serve` would sign with.
    let state = AppState::build(
        config,
        std::sync::Arc::new(tessera_resource::clock::SystemClock),
    )
    .await?;
    let result = dispatch(cmd, &state).await;
    state.close().await;
    result
}

async fn dispatch(cmd: KeysCommand, state: &AppState) -> anyhow::Result<()> {
    let now = state.clock.now();
    match cmd {
        KeysCommand::List { json } => {
            let keys = state.store.list_keys().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
                return Ok(());
            }
            let signing = state.keys.ring().signer.kid().to_owned();
            for k in &keys {
                let role = match () {
                    _ if k.kid == signing => "signing",
                    _ if k.activates_at > now => "pending",
                    _ => "retired, still published",
                };
                let when = super::client::timestamp(k.activates_at);
                println!("{}  {}  active from {when}  ({role})", k.kid, k.alg);
            }
        }
        KeysCommand::Rotate { now: immediately } => {
            let key = state.keys.rotate(&state.store, now, immediately).await?;
            let activates_at = if immediately {
                now
            } else {
                now + state.config.signing.publish_lead.as_secs() as i64
            };
            let fields = serde_json::json!({"kid": key.kid, "alg": key.alg.as_str(), "activates_at": activates_at, "by": "tessera keys rotate"});
            state
                .audit
                .record_durably("key_rotated", now, fields)
                .await?;
            let lead = state.config.signing.publish_lead.as_secs();
            if immediately {
                println!(
                    "new signing key {} ({}) signs now",
                    key.kid,
                    key.alg.as_str()
                );
            } else {
                println!(
                    "new signing key {} ({}) is published now and signs in {lead}s",
                    key.kid,
                    key.alg.as_str()
                );
            }
        }
    }
    Ok(())
}
