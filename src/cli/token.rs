//! `tessera token inspect TOKEN|- [--audience URI] [--json]`: decode an access
//! token and say, check by check, whether this issuer would accept it. `-`
//! reads the token from stdin, so it stays out of shell history and `ps`.

use std::io::Read;
use std::sync::Arc;

use clap::Subcommand;

use crate::config::Config;
use crate::state::AppState;
use tessera_resource::clock::SystemClock;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Explain whether an access token would be accepted (exit status 1 if not).
    Inspect {
        /// The access token, or `-` to read it from stdin (keeps it out of
        /// shell history and the process list).
        token: String,
        /// The resource server's canonical URI, to check `aud` against.
        #[arg(long)]
        audience: Option<String>,
        /// Print JSON: header, claims, each check, and `accepted`.
        #[arg(long)]
        json: bool,
    },
}

/// The token named on the command line, or read from stdin for `-`.
fn token_text(arg: String) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| {
            super::exit::Usage(anyhow::anyhow!("cannot read the token from stdin: {e}"))
        })?;
    Ok(text)
}

pub async fn run(cmd: TokenCommand, config: Config) -> anyhow::Result<()> {
    let TokenCommand::Inspect {
        token,
        audience,
        json,
    } = cmd;
    let token = token_text(token)?;
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let report = state
        .access_tokens()
        .check(token.trim(), audience.as_deref(), state.clock.now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"));
    state.close().await;
    let report = report?;
    if json {
        let mut out = serde_json::to_value(&report)?;
        out["accepted"] = serde_json::json!(report.accepted());
        say!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_human(&report)?;
    }
    if !report.accepted() {
        anyhow::bail!(super::exit::Negative(
            "the token would be rejected".to_owned()
        ));
    }
    Ok(())
}

/// The report as lines: the header and claims one per line, then the checks.
fn print_human(report: &crate::access_token::check::Report) -> anyhow::Result<()> {
    for (part, value) in [
        ("header", report.header.clone()),
        (
            "claims",
            report
                .claims
                .as_ref()
                .map(serde_json::to_value)
                .transpose()?,
        ),
    ] {
        let Some(serde_json::Value::Object(fields)) = value else {
            continue;
        };
        say!("{part}:");
        for (name, value) in fields {
            let shown = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) if is_time(&name) => {
                    let unix = n.as_i64().unwrap_or_default();
                    format!("{unix} ({})", super::client::timestamp(unix))
                }
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            say!("  {name:<10} {shown}");
        }
    }
    for c in &report.checks {
        let verdict = if c.ok { "ok  " } else { "FAIL" };
        say!("{verdict} {:<10} {}", c.what, c.detail);
    }
    say!(
        "{}",
        if report.accepted() {
            "ACCEPTED"
        } else {
            "REJECTED"
        }
    );
    Ok(())
}

fn is_time(claim: &str) -> bool {
    matches!(claim, "iat" | "exp" | "nbf" | "auth_time")
}
