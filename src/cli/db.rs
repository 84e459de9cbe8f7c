//! `tessera db copy --from sqlite://… --to postgres://…`: move an
//! installation that outgrew SQLite to PostgreSQL, keeping everything
//! (clients and their secrets' pepper, people, sessions, consents, refresh
//! families, keys, the audit chain). The copy is taken from a consistent
//! snapshot of the source (safe while a server runs on it; what it writes
//! after the snapshot is not copied), goes into an empty target in one
//! transaction, and is verified: row counts table by table, and the audit
//! chain checked on the target, to the same tip.

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::audit::keying::load_chain_key;
use crate::config::Config;
use crate::store::Store;
use crate::store::copy::TABLES;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy a SQLite database into a new, empty PostgreSQL database, and verify the copy.
    Copy {
        /// The SQLite database: sqlite://PATH.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database: postgres://USER@HOST/NAME (it must be empty).
        #[arg(long)]
        to: String,
    },
}

pub async fn run(cmd: DbCommand, config: Config) -> anyhow::Result<()> {
    let DbCommand::Copy { from, to } = cmd;
    if !from.starts_with("sqlite://") {
        bail!("--from must be a sqlite:// database URL");
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a postgres:// database URL");
    }
    let options = config.store_options();
    let snapshot = Snapshot::take(&from).await?;
    let target = Store::open_with(&to, &options).await?;
    let key = config.audit_chain_key.as_ref();
    let result = copy(&snapshot.store, &target, key).await;
    target.close().await;
    snapshot.remove().await;
    let copied = result?;
    for (table, rows) in &copied {
        say!("{table:<20} {rows:>10} rows");
    }
    say!("copied and verified {from} into the PostgreSQL database");
    say!(
        "next: start every replica with --database on it, the same issuer, and the same TESSERA_KEY_ENCRYPTION_KEY if one is set"
    );
    Ok(())
}

async fn copy(
    snapshot: &Store,
    target: &Store,
    key: Option<&tessera_resource::Secret>,
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    refuse_non_empty(target).await?;
    // Keyed before the copy, so that a default key made now travels with it.
    load_chain_key(snapshot, key).await?;
    let copied = target.import_from(snapshot).await?;
    load_chain_key(target, key).await?;
    verify(snapshot, target, &copied).await?;
    Ok(copied)
}

async fn refuse_non_empty(target: &Store) -> anyhow::Result<()> {
    let mut held = Vec::new();
    for table in TABLES {
        let n = target.count_rows(table).await?;
        if n > 0 {
            held.push(format!("{table}: {n}"));
        }
    }
    if !held.is_empty() {
        bail!(
            "the target database is not empty ({}): copy into a new, empty database",
            held.join(", ")
        );
    }
    Ok(())
}

/// Every table holds on the target what was read from the snapshot, and
/// the audit chain verifies there to the same tip.
async fn verify(
    snapshot: &Store,
    target: &Store,
    copied: &[(&'static str, u64)],
) -> anyhow::Result<()> {
    for &(table, rows) in copied {
        let (source, written) = (
            snapshot.count_rows(table).await?,
            target.count_rows(table).await?,
        );
        if source != rows || written != rows {
            bail!("{table}: {source} rows in the source, {rows} copied, {written} in the target");
        }
    }
    let (before, after) = (
        snapshot.verify_audit_chain().await?,
        target.verify_audit_chain().await?,
    );
    if let Some((seq, why)) = after.broken {
        bail!("the copied audit chain is broken at record {seq}: {why}");
    }
    if before.broken.is_none() && (before.checked, &before.tip) != (after.checked, &after.tip) {
        bail!(
            "the copied audit chain differs: {} records in the source, {} in the target",
            before.checked,
            after.checked
        );
    }
    Ok(())
}

/// A consistent copy of the source in the temporary directory.
struct Snapshot {
    store: Store,
    path: std::path::PathBuf,
}

impl Snapshot {
    async fn take(from: &str) -> anyhow::Result<Self> {
        // The source must exist: a mistyped path is not a new, empty installation.
        let existing = crate::store::Options {
            access: crate::store::Access::Existing,
            ..crate::store::Options::default()
        };
        let source = Store::open_with(from, &existing).await?;
        let path = std::env::temp_dir().join(format!("tessera-copy-{}.db", uuid::Uuid::new_v4()));
        let taken = source.backup(&path).await;
        source.close().await;
        taken.with_context(|| format!("cannot take a snapshot of {from}"))?;
        let store = Store::open(&format!("sqlite://{}", path.display())).await?;
        Ok(Self { store, path })
    }

    async fn remove(self) {
        self.store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}
