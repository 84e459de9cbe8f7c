//! Audit retention: the oldest records are pruned as a prefix of the chain
//! (see `store::audit`), and the pruning is itself an event of the chain.

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
