//! `tessera token inspect TOKEN [--audience URI]`: decode an access token and
//! say, check by check, whether this issuer would accept it.

use std::sync::Arc;

use clap::Subcommand;

use crate::config::Config;
use crate::state::AppState;
use tessera_resource::clock::SystemClock;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Explain whether an access token would be accepted (exit status 2 if not).
    Inspect {
        token: String,
        /// The resource server's canonical URI, to check `aud` against.
        #[arg(long)]
        audience: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: TokenCommand, config: Config) -> anyhow::Result<()> {
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let TokenCommand::Inspect {
        token,
        audience,
        json,
    } = cmd;
    let report = state
        .access_tokens()
        .check(token.trim(), audience.as_deref(), state.clock.now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    state.close().await;
    if json {
        let mut out = serde_json::to_value(&report)?;
        out["accepted"] = serde_json::json!(report.accepted());
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if let Some(h) = &report.header {
            println!("header: {}", serde_json::to_string_pretty(h)?);
        }
        if let Some(c) = &report.claims {
            println!("claims: {}", serde_json::to_string_pretty(c)?);
        }
        for c in &report.checks {
            println!(
                "{} {:<10} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.what,
                c.detail
            );
        }
        println!(
            "{}",
            if report.accepted() {
                "ACCEPTED"
            } else {
                "REJECTED"
            }
        );
    }
    if !report.accepted() {
        anyhow::bail!("the token would be rejected");
    }
    Ok(())
}
