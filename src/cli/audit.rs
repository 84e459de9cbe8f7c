//! `tessera audit tail|verify|head|export|prune`: read and check the audit
//! trail against the head an operator kept, and prune it by age (the server
//! does the same with `[audit] retention`).

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::audit::Audit;
use crate::audit::keying::load_chain_key;
use crate::config::Config;
use crate::store::Store;
use crate::store::audit::HeadCheck;
use crate::store::chain::Head;
use tessera_resource::clock::{Clock, SystemClock};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the newest events, one JSON object per line.
    Tail {
        /// How many of the newest events to print.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: i64,
    },
    /// Check the hash chain; reports the first broken record (exit status 1).
    Verify {
        /// A head printed earlier by `tessera audit head` (or the server's
        /// `audit chain head` line): fail unless that record is still there
        /// with that hash, so deleting the newest records is noticed.
        #[arg(long, value_name = "SEQ:HEX")]
        expect_head: Option<String>,
    },
    /// Print the newest record's position and hash (SEQ:HEX), to keep
    /// elsewhere and check later with `verify --expect-head`.
    Head,
    /// Print every event since a time (RFC 3339, or unix seconds), as JSON lines.
    Export {
        /// The earliest time to print: RFC 3339 (2026-11-29T00:00:00Z) or unix seconds.
        #[arg(long, value_name = "TIME")]
        since: String,
    },
    /// Delete the records from before a time (RFC 3339, or unix seconds), oldest
    /// first; the rest of the chain still verifies. Export them first to keep them.
    Prune {
        /// Records from before this time go: RFC 3339 or unix seconds.
        #[arg(long, value_name = "TIME")]
        before: String,
    },
}

impl AuditCommand {
    /// Whether the command only reads.
    pub fn is_read_only(&self) -> bool {
        !matches!(self, Self::Prune { .. })
    }
}

fn parse_since(s: &str) -> anyhow::Result<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .with_context(|| {
            format!("'{s}' is neither RFC 3339 (2026-11-29T00:00:00Z) nor unix seconds")
        })
        .map_err(super::exit::Usage)?;
    Ok(t.unix_timestamp())
}

pub async fn run(cmd: AuditCommand, config: Config) -> anyhow::Result<()> {
    let store = Store::open_with(&config.database_url, &config.store_options()).await?;
    // Verifying and appending need the chain key; reading does not.
    if matches!(
        cmd,
        AuditCommand::Verify { .. } | AuditCommand::Prune { .. }
    ) {
        let keyed = load_chain_key(&store, config.audit_chain_key.as_ref()).await;
        if keyed.is_err() {
            store.close().await;
        }
        keyed?;
    }
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
                say!(
                    "pruned {} audit records (through record {})",
                    p.records,
                    p.through_seq
                );
                Ok(())
            }
            None => {
                say!("no audit records from before that time");
                Ok(())
            }
        };
    }
    // Only the store: reading the trail must not touch signing keys.
    let result = dispatch(cmd, &store).await;
    store.close().await;
    result
}

async fn dispatch(cmd: AuditCommand, store: &Store) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Tail { lines } => {
            for r in store.audit_tail(lines.max(0)).await? {
                say!("{}", r.event_with_time());
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
                    say!("{}", r.event_with_time());
                }
            }
        }
        AuditCommand::Prune { .. } => bail!("audit prune runs with the audit writer (see run)"),
        AuditCommand::Head => match store.audit_head().await? {
            Some(head) => say!("{head}"),
            None => say!("the audit trail is empty"),
        },
        AuditCommand::Verify { expect_head } => {
            let expected = expect_head
                .map(|h| {
                    h.parse::<Head>()
                        .map_err(|e| super::exit::Usage(anyhow::Error::msg(e)))
                })
                .transpose()?;
            verify(store, expected).await?;
        }
    }
    Ok(())
}

/// `tessera audit verify [--expect-head SEQ:HEX]`.
async fn verify(store: &Store, expected: Option<Head>) -> anyhow::Result<()> {
    let check = store.verify_audit_chain().await?;
    if let Some((seq, why)) = check.broken {
        bail!(super::exit::Negative(format!(
            "audit chain broken at record {seq}: {why} ({} records before it verified)",
            check.checked
        )));
    }
    let head = match &expected {
        None => String::new(),
        Some(head) => match store.check_head(head).await? {
            HeadCheck::Matches => format!("; record {} is the expected head", head.seq),
            HeadCheck::Pruned => format!(
                "; record {} was pruned since, so the expected head cannot be checked",
                head.seq
            ),
            HeadCheck::Differs => bail!(super::exit::Negative(format!(
                "audit chain does not hold the expected head: record {} has another hash",
                head.seq
            ))),
            HeadCheck::Missing { tip_seq } => bail!(super::exit::Negative(format!(
                "audit chain ends at record {tip_seq}, before the expected head {}: the newest records were deleted",
                head.seq
            ))),
        },
    };
    let unkeyed = match check.unkeyed {
        0 => String::new(),
        n => format!(" ({n} of them unkeyed, from before the chain was keyed)"),
    };
    match check.pruned_through {
        Some(seq) => say!(
            "audit chain intact: {} records verified{unkeyed} (records 1 to {seq} were pruned){head}",
            check.checked
        ),
        None => say!(
            "audit chain intact: {} records verified{unkeyed}{head}",
            check.checked
        ),
    }
    Ok(())
}
