//! Exporting the chain's head. A keyed chain cannot be changed without the
//! key, but its newest records can still be deleted, leaving a shorter chain
//! that verifies. So the server logs the head (`seq` and hash of the newest
//! record) every `[audit] head_interval`, and writes it to
//! `[audit] head_file` when set, for a log shipper or a backup to carry away;
//! `tessera audit verify --expect-head SEQ:HEX` then shows whether that
//! record is still there with that hash.

use std::path::Path;

use crate::store::Store;
use crate::store::chain::Head;

/// Log the head once, and write it to `file` if set. Failures are logged:
/// the next round tries again.
pub async fn export(store: &Store, file: Option<&Path>) {
    let head = match store.audit_head().await {
        Ok(Some(head)) => head,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "the audit chain head could not be read");
            return;
        }
    };
    tracing::info!(audit.head = %head, audit.seq = head.seq, "audit chain head");
    if let Some(path) = file
        && let Err(e) = write(path, &head)
    {
        tracing::warn!(error = %e, file = %path.display(), "the audit chain head could not be written");
    }
}

/// Replace `path` with the head, atomically (a reader never sees half).
fn write(path: &Path, head: &Head) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("{head}\n"))?;
    std::fs::rename(&tmp, path)
}
