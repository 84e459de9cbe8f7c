//! `tessera keys list|rotate`: the signing keys in the database.

use clap::Subcommand;

use crate::config::Config;
use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their schedule; the one that signs now is marked.
    List {
        /// Print JSON (an array of keys, each with its `state`: signing,
        /// pending or retired).
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

impl KeysCommand {
    /// Whether the command only reads.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::List { .. })
    }
}

pub async fn run(cmd: KeysCommand, config: Config) -> anyhow::Result<()> {
    // `list` opens the database read-only: it shows the keys as they are,
    // and neither creates the first one nor schedules one for another
    // configured algorithm (`rotate` and `serve` do).
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
            let signing = state.keys.ring().signer.kid().to_owned();
            let state_of = |k: &crate::store::keys::KeySummary| match () {
                _ if k.kid == signing => "signing",
                _ if k.activates_at > now => "pending",
                _ => "retired",
            };
            if json {
                let mut list = serde_json::to_value(&keys)?;
                for (entry, k) in list.as_array_mut().into_iter().flatten().zip(&keys) {
                    entry["state"] = serde_json::json!(state_of(k));
                }
                say!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            for k in &keys {
                let role = match state_of(k) {
                    "retired" => "retired, still published",
                    other => other,
                };
                let when = super::client::timestamp(k.activates_at);
                say!("{}  {}  active from {when}  ({role})", k.kid, k.alg);
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
                say!(
                    "new signing key {} ({}) signs now",
                    key.kid,
                    key.alg.as_str()
                );
            } else {
                say!(
                    "new signing key {} ({}) is published now and signs in {lead}s",
                    key.kid,
                    key.alg.as_str()
                );
            }
        }
    }
    Ok(())
}
