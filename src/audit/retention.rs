//! Audit retention: the oldest records are pruned as a prefix of the chain
//! (see `store::audit`), and the pruning is itself an event of the chain.

use crate::state::AppState;
use crate::store::audit::Pruned;

/// Prune the records from before `before` and record that in the chain
/// (`audit_pruned`, written before this returns). Shared by the CLI and the
/// server's retention.
pub async fn prune(state: &AppState, before: i64, by: &str) -> anyhow::Result<Option<Pruned>> {
    let now = state.clock.now();
    let Some(pruned) = state.store.prune_audit(before, now).await? else {
        return Ok(None);
    };
    let fields = serde_json::json!({
        "records": pruned.records,
        "through_seq": pruned.through_seq,
        "older_than": before,
        "by": by,
    });
    state
        .audit
        .record_durably("audit_pruned", now, fields)
        .await?;
    Ok(Some(pruned))
}
