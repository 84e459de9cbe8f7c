//! Audit retention: the oldest records are pruned as a prefix of the chain
//! (see `store::audit`), and the pruning is itself an event of the chain —
//! by age (`audit.retention`) and by size (`audit.max_size`).

use super::Audit;
use crate::store::Store;
use crate::store::audit::Pruned;

/// Prune the records from before `before` and record that in the chain
/// (`audit_pruned`, written before this returns). Shared by the CLI and the
/// server's retention.
pub async fn prune(
    store: &Store,
    audit: &Audit,
    before: i64,
    now: i64,
    by: &str,
) -> crate::store::Result<Option<Pruned>> {
    let Some(pruned) = store.prune_audit(before, now).await? else {
        return Ok(None);
    };
    let fields = serde_json::json!({
        "records": pruned.records,
        "through_seq": pruned.through_seq,
        "older_than": before,
        "by": by,
    });
    audit.record_durably("audit_pruned", now, fields).await?;
    Ok(Some(pruned))
}

/// Prune the oldest records until the trail takes at most nine tenths of
/// `max_bytes` (the margin keeps pruning from running at every check). The
/// records to keep are counted from the trail's average record size; they
/// are pruned by the time of the first one kept, so the chain is cut as
/// retention cuts it, and still verifies.
pub async fn prune_to_size(
    store: &Store,
    audit: &Audit,
    max_bytes: u64,
    now: i64,
) -> crate::store::Result<Option<Pruned>> {
    let size = store.audit_size().await?;
    if size.records == 0 || size.bytes <= max_bytes as i64 {
        return Ok(None);
    }
    let per_record = (size.bytes / size.records).max(1);
    let keep = (max_bytes as i64 / 10 * 9) / per_record;
    let Some(first_kept) = store.audit_time_of(size.records - keep).await? else {
        return Ok(None);
    };
    prune(store, audit, first_kept, now, "audit.max_size").await
}
