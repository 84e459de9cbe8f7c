//! The persisted audit trail: records appended to the hash chain
//! ([`super::chain`]) through the one write queue, read back in chain order,
//! and pruned by retention as a prefix of the chain, with `audit_anchor`
//! keeping the hash the first remaining record links to.

use super::chain::Record;
use super::{Result, Store, on_backend};

/// Records pruned from the front of the chain by one call of
/// [`Store::prune_audit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub records: u64,
    /// The last pruned record: the chain now starts after it.
    pub through_seq: i64,
}

impl Store {
    /// Append a record (`json`, made at `at`) to the chain with the next
    /// write batch. With `durable`, return only once it is committed (a
    /// security decision must not be acknowledged before its record is on
    /// disk); otherwise once it is queued.
    pub async fn append_audit(&self, at: i64, json: String, durable: bool) -> Result<()> {
        on_backend!(self, db => db.audit(at, json, durable).await)
    }

    /// Records queued and not yet written.
    pub fn audit_backlog(&self) -> i64 {
        on_backend!(self, db => db.audit_backlog())
    }

    /// Records from `since` (unix seconds) on, oldest first, at most `limit`.
    pub async fn audit_since(&self, since: i64, limit: i64) -> Result<Vec<Record>> {
        on_backend!(self, db => db.audit_since(since, limit).await)
    }

    /// The newest `n` records, oldest first.
    pub async fn audit_tail(&self, n: i64) -> Result<Vec<Record>> {
        on_backend!(self, db => db.audit_tail(n).await)
    }

    /// Every record in chain order, in pages (for verification).
    pub async fn audit_page(&self, after_seq: i64, page: i64) -> Result<Vec<Record>> {
        on_backend!(self, db => db.audit_page(after_seq, page).await)
    }

    /// Delete the oldest records, those from before `before` (unix seconds),
    /// as a prefix of the chain: pruning stops at the first record that is
    /// not old enough, even if later ones are. The anchor moves to the last
    /// record deleted, in the same transaction, so the rest still verifies.
    /// `None` when nothing was old enough.
    pub async fn prune_audit(&self, before: i64, now: i64) -> Result<Option<Pruned>> {
        on_backend!(self, db => db.prune_audit(before, now).await)
    }

    /// The anchor the retained chain starts from (`None`: never pruned, the
    /// chain starts at the genesis hash).
    pub async fn audit_anchor(&self) -> Result<Option<(i64, Vec<u8>)>> {
        on_backend!(self, db => db.audit_anchor().await)
    }
}

/// The chain as [`Store::verify_audit_chain`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    /// Records that verified.
    pub checked: u64,
    /// The last pruned record, if the chain starts after an anchor.
    pub pruned_through: Option<i64>,
    /// The newest record's hash (empty for an empty chain).
    pub tip: Vec<u8>,
    /// The first record that breaks the chain, and why.
    pub broken: Option<(i64, String)>,
}

impl Store {
    /// Check the whole chain, page by page, from its anchor (if pruned).
    pub async fn verify_audit_chain(&self) -> Result<ChainCheck> {
        let anchor = self.audit_anchor().await?;
        let mut verifier = match &anchor {
            Some((seq, hash)) => super::chain::Verifier::from_anchor(*seq, hash.clone()),
            None => super::chain::Verifier::default(),
        };
        let mut check = ChainCheck {
            checked: 0,
            pruned_through: anchor.map(|(seq, _)| seq),
            tip: Vec::new(),
            broken: None,
        };
        let mut after = 0;
        loop {
            let page = self.audit_page(after, 5000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in &page {
                if let Err(broken) = verifier.feed(r) {
                    check.checked = verifier.checked;
                    check.broken = Some(broken);
                    return Ok(check);
                }
            }
            check.tip = last.hash.clone();
        }
        check.checked = verifier.checked;
        Ok(check)
    }
}

/// Hand an audit record (`item`, made with the sender of its commit
/// acknowledgement when `durable`) to a backend's writer queue, counting it
/// in `backlog`. With `durable`, end the writer's linger (`waiting`) and
/// return once it reports the commit; a failed commit is `failed()` (made
/// only then: the token path hands over a record per request).
pub(super) async fn hand_over<I>(
    queue: &tokio::sync::mpsc::Sender<I>,
    backlog: &std::sync::atomic::AtomicI64,
    waiting: &tokio::sync::Notify,
    durable: bool,
    item: impl FnOnce(Option<tokio::sync::oneshot::Sender<bool>>) -> I,
    failed: fn() -> super::Error,
) -> Result<()> {
    use std::sync::atomic::Ordering;
    let (ack, committed) = match durable {
        true => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        }
        false => (None, None),
    };
    backlog.fetch_add(1, Ordering::Relaxed);
    if queue.send(item(ack)).await.is_err() {
        backlog.fetch_sub(1, Ordering::Relaxed);
        return Err(super::Error::Closed);
    }
    let Some(committed) = committed else {
        return Ok(());
    };
    // Someone waits for this record: end any linger.
    waiting.notify_waiters();
    match committed.await {
        Ok(true) => Ok(()),
        Ok(false) => Err(failed()),
        Err(_) => Err(super::Error::Closed),
    }
}
