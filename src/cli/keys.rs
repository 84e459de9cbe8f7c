//! `tessera keys …`: the signing keys in the database.

use clap::Subcommand;

use crate::config::Config;
use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys (the newest of the configured algorithm signs).
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: KeysCommand, config: Config) -> anyhow::Result<()> {
    // Building the state creates the first key if there is none yet, so the
    // list always shows the key `serve` would sign with.
    let state = AppState::build(config, std::sync::Arc::new(crate::clock::SystemClock)).await?;
    let KeysCommand::List { json } = cmd;
    let keys = state.store.list_keys().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&keys)?);
    } else {
        for k in &keys {
            let mark = if k.kid == state.signer.kid() {
                "  (signing)"
            } else {
                ""
            };
            println!(
                "{}  {}  created {}{mark}",
                k.kid,
                k.alg,
                super::client::timestamp(k.created_at)
            );
        }
    }
    state.store.close().await;
    Ok(())
}
