//! The server's housekeeping, beside the requests: every ten seconds, pick up
//! key changes (rotation from the CLI, a pending key activating) and rotate
//! when due; every ten minutes, purge expired rows, prune registrations never
//! used, and prune audit records past their retention; every
//! `[audit] head_interval`, export the audit chain's head (`audit::head`).

use std::sync::Arc;

use crate::state::AppState;

pub async fn run(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(crate::keys::rotation::RELOAD_EVERY);
    let mut ticks: u64 = 0;
    let mut next_head = i64::MIN;
    loop {
        tick.tick().await;
        let now = state.clock.now();
        maintain_keys(&state, now).await;
        ticks += 1;
        if ticks % 60 == 1 {
            clean_up(&state, now).await;
        }
        if let Some(every) = state.config.audit.head_interval
            && now >= next_head
        {
            let file = state.config.audit.head_file.as_deref();
            crate::audit::head::export(&state.store, file).await;
            next_head = now.saturating_add(every.as_secs() as i64);
        }
    }
}

/// Pick up key changes and rotate when due (an automatic rotation is audited).
async fn maintain_keys(state: &AppState, now: i64) {
    match state.keys.maintain(&state.store, now).await {
        Ok(Some(key)) => {
            let lead = state.config.signing.publish_lead.as_secs() as i64;
            let fields = serde_json::json!({"kid": key.kid, "alg": key.alg.as_str(), "activates_at": now + lead, "by": "automatic rotation"});
            state.audit.record("key_rotated", now, fields).await;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "signing key maintenance failed"),
    }
}

/// Prune unused registrations, purge expired rows, apply audit retention.
async fn clean_up(state: &AppState, now: i64) {
    if let Some(after) = state.config.registration.prune_unused_after {
        let before = now - after.as_secs() as i64;
        match state.store.prune_unused_clients(before).await {
            Ok(n) if n > 0 => {
                state.metrics.registrations_removed("unused", n);
                tracing::info!(clients = n, "pruned registrations never used")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning unused registrations failed"),
        }
    }
    match state.store.purge_expired(now).await {
        Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired rows"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
    }
    if let Some(retention) = state.config.audit.retention {
        let before = now - retention.as_secs() as i64;
        let (store, audit) = (&state.store, &state.audit);
        match crate::audit::retention::prune(store, audit, before, now, "retention").await {
            Ok(Some(p)) => {
                tracing::info!(records = p.records, "pruned audit records past retention")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "pruning the audit trail failed"),
        }
    }
    if let Some(max) = state.config.audit.max_size {
        let (store, audit) = (&state.store, &state.audit);
        match crate::audit::retention::prune_to_size(store, audit, max, now).await {
            Ok(Some(p)) => tracing::info!(
                records = p.records,
                max_size = max,
                "pruned the oldest audit records to audit.max_size"
            ),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "pruning the audit trail to its size failed")
            }
        }
    }
}
