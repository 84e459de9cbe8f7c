//! Following the change feed (`store::changes`): a few times a second, read
//! what other processes (replicas, the CLI) changed and drop what this one
//! holds of it, so that a removed client, a rotated key or a removed person
//! reaches every process within a second, on either backend.

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;
use crate::store::changes::{Change, Kind};

/// How often the feed is read; a change reaches this process within it.
pub const POLL: Duration = Duration::from_millis(250);

/// Follow the feed until the task is dropped.
pub async fn run(state: Arc<AppState>) {
    let mut last = state.store.last_change().await.unwrap_or(0);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match state.store.changes_after(last).await {
            Ok(changes) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("reading the change feed again");
                }
                let keys_changed = changes.iter().any(|c| c.kind == Kind::Key);
                for change in &changes {
                    forget(&state, change);
                }
                // However many keys changed, the ring is read again once.
                if keys_changed {
                    reload_keys(&state).await;
                }
                last = changes.last().map_or(last, |c| c.seq);
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read the change feed; caches expire on their own meanwhile");
            }
            Err(_) => {}
        }
    }
}

/// Drop what this process holds of `change`.
fn forget(state: &AppState, change: &Change) {
    state.store.forget(change);
    if change.kind == Kind::Client {
        state.metadata_documents.forget(&change.key);
    }
}

async fn reload_keys(state: &AppState) {
    if let Err(e) = state.keys.reload(&state.store, state.clock.now()).await {
        tracing::warn!(error = %format!("{e:#}"), "reloading the signing keys failed");
    }
}
