//! `tessera audit tail|verify|export|prune`: read and check the audit trail,
//! and prune it by age (the server does the same with `[audit] retention`).

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::audit::Audit;
use crate::config::Config;
use crate::store::Store;
use tessera_resource::clock::{Clock, SystemClock};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the newest events, one JSON object per line.
    Tail {
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: i64,
    },
    /// Check the hash chain; reports the first broken record (exit status 2).
    Verify,
    /// Print every event since a time (RFC 3339, or unix seconds), as JSON lines.
    Export {
        #[arg(long)]
        since: String,
    },
    /// Delete the records from before a time (RFC 3339, or unix seconds), oldest
    /// first; the rest of the chain still verifies. Export them first to keep them.
    Prune {
        #[arg(long)]
        before: String,
    },
}

fn parse_since(s: &str) -> anyhow::Result<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .with_context(|| {
            format!("'{s}' is neither RFC 3339 (2026-11-29T00:00:00Z) nor unix seconds")
        })?;
    Ok(t.unix_timestamp())
}

pub async fn run(cmd: AuditCommand, config: Config) -> anyhow::Result<()> {
    let store = Store::open_with(&config.database_url, &config.store_options()).await?;
    if let AuditCommand::Prune { before } = &cmd {
        // Pruning is itself recorded in the chain.
        let before = parse_since(before)?;
        let audit = Audit::new(store.clone());
        let by = "an administrator (tessera audit prune)";
        let result =
            crate::audit::retention::prune(&store, &audit, before, SystemClock.now(), by).await;
        store.close().await;
        return match result? {
            Some(p) => {
                println!(
                    "pruned {} audit records (through record {})",
                    p.records, p.through_seq
                );
                Ok(())
            }
            None => {
                println!("no audit records from before that time");
                Ok(())
            }
        };
    }
    // Only the store: reading the trail must not touch keys.
    let result = dispatch(cmd, &store).await;
    store.close().await;
    result
}

async fn dispatch(cmd: AuditCommand, store: &Store) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Tail { lines } => {
            for r in store.audit_tail(lines.max(0)).await? {
                println!("{}", r.event);
            }
        }
        AuditCommand::Export { since } => {
            let since = parse_since(&since)?;
            let mut after = 0;
            loop {
                let page = store.audit_page(after, 5000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for r in page.iter().filter(|r| r.at >= since) {
                    println!("{}", r.event);
                }
            }
        }
        AuditCommand::Prune { .. } => bail!("audit prune runs with the audit writer (see run)"),
        AuditCommand::Verify => {
            let check = store.verify_audit_chain().await?;
            if let Some((seq, why)) = check.broken {
                bail!(
                    "audit chain broken at record {seq}: {why} ({} records before it verified)",
                    check.checked
                );
            }
            match check.pruned_through {
                Some(seq) => println!(
                    "audit chain intact: {} records verified (records 1 to {seq} were pruned)",
                    check.checked
                ),
                None => println!("audit chain intact: {} records verified", check.checked),
            }
        }
    }
    Ok(())
}
