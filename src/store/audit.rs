//! The persisted audit trail: records appended to the hash chain
//! ([`super::chain`]) through the one write queue, read back in chain order,
//! and pruned by retention as a prefix of the chain, with `audit_anchor`
//! keeping the hash the first remaining record links to. The chain key is
//! loaded once ([`Store::key_audit_chain`]) before anything is appended.

use super::chain::{ChainKey, Head, KEY_CHECK, KEYED_FROM, Linker, Record, Verifier, seq_of};
use super::{Error, Result, Store, on_backend};

/// Records pruned from the front of the chain by one call of
/// [`Store::prune_audit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub records: u64,
    /// The last pruned record: the chain now starts after it.
    pub through_seq: i64,
}

/// The audit trail's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditSize {
    pub records: i64,
    /// The records' bytes (their columns, and about 40 bytes of row and
    /// index overhead each), estimated from the newest 1,000 on both
    /// backends: the exact figure needs a walk of the whole table, and the
    /// files' sizes do not shrink when records are pruned (their pages are
    /// reused).
    pub bytes: i64,
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

    /// How many records the trail holds and about how many bytes they take
    /// (for `/metrics`): cheap enough to ask on every scrape.
    pub async fn audit_size(&self) -> Result<AuditSize> {
        on_backend!(self, db => db.audit_size().await)
    }

    /// The time of the record `offset` places after the oldest (`None`:
    /// the trail is shorter).
    pub async fn audit_time_of(&self, offset: i64) -> Result<Option<i64>> {
        on_backend!(self, db => db.audit_time_of(offset).await)
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

impl Store {
    /// Key the chain with `key` for this process: records appended from now
    /// on are keyed with it. The database remembers which key its chain uses
    /// (a fingerprint); another key is refused rather than allowed to break
    /// the chain.
    pub async fn key_audit_chain(&self, key: ChainKey) -> Result<()> {
        let check = key.fingerprint();
        if self.generated_setting(KEY_CHECK, &check).await? != check {
            return Err(Error::Open(
                "this database's audit chain is keyed with another key: start with the key it was made with \
                 (security.audit_chain_key or audit_chain_key_file, or TESSERA_AUDIT_CHAIN_KEY; \
                 none of them if it uses the default kept in the database)"
                    .into(),
            ));
        }
        // A second load in one process is the same key (the check above).
        let _ = on_backend!(self, db => db.chain_key()).set(key);
        Ok(())
    }

    /// How this chain's records are hashed, for verification.
    async fn linker(&self) -> Result<Linker> {
        let keyed_from = self.setting(KEYED_FROM).await?.and_then(|b| seq_of(&b));
        let loaded = on_backend!(self, db => db.chain_key()).get().cloned();
        match (keyed_from, loaded) {
            (Some(keyed_from), Some(key)) => Ok(Linker { key, keyed_from }),
            // Every record was written before the chain was keyed.
            (None, key) => Ok(Linker {
                key: key.unwrap_or_else(|| ChainKey::new(|_| Vec::new())),
                keyed_from: i64::MAX,
            }),
            (Some(_), None) => Err(Error::Open(
                "the audit chain is keyed and its key is not loaded".into(),
            )),
        }
    }

    /// The newest record's `seq` and hash (the anchor's when every record
    /// was pruned; `None` for an empty trail): what an operator keeps
    /// elsewhere to check with `verify --expect-head`.
    pub async fn audit_head(&self) -> Result<Option<Head>> {
        if let Some(r) = self.audit_tail(1).await?.pop() {
            return Ok(Some(Head {
                seq: r.seq,
                hash: r.hash,
            }));
        }
        let anchor = self.audit_anchor().await?;
        Ok(anchor.map(|(seq, hash)| Head { seq, hash }))
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
    /// The newest record's `seq` (0 for an empty chain).
    pub tip_seq: i64,
    /// Records written before the chain was keyed (plain SHA-256).
    pub unkeyed: u64,
    /// The first record that breaks the chain, and why.
    pub broken: Option<(i64, String)>,
}

impl Store {
    /// Check the whole chain, page by page, from its anchor (if pruned).
    pub async fn verify_audit_chain(&self) -> Result<ChainCheck> {
        let linker = self.linker().await?;
        let keyed_from = linker.keyed_from;
        let anchor = self.audit_anchor().await?;
        let mut verifier = match &anchor {
            Some((seq, hash)) => Verifier::from_anchor(linker, *seq, hash.clone()),
            None => Verifier::new(linker),
        };
        // With every record pruned, the head is the anchor.
        let pruned_through = anchor.as_ref().map(|(seq, _)| *seq);
        let mut check = ChainCheck {
            checked: 0,
            pruned_through,
            tip: anchor.map(|(_, hash)| hash).unwrap_or_default(),
            tip_seq: pruned_through.unwrap_or(0),
            unkeyed: 0,
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
                check.unkeyed += u64::from(r.seq < keyed_from);
            }
            check.tip = last.hash.clone();
            check.tip_seq = last.seq;
        }
        check.checked = verifier.checked;
        Ok(check)
    }
}

/// An expected head (`verify --expect-head`) against the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadCheck {
    /// The record is there with that hash (or is the anchor).
    Matches,
    /// The record is there with another hash.
    Differs,
    /// The chain ends before it: the newest records were deleted.
    Missing { tip_seq: i64 },
    /// It was pruned by retention since; it cannot be checked.
    Pruned,
}

impl Store {
    /// Whether the chain still holds `head` (verify the chain first).
    pub async fn check_head(&self, head: &Head) -> Result<HeadCheck> {
        let same = |hash: &[u8]| match hash == head.hash.as_slice() {
            true => HeadCheck::Matches,
            false => HeadCheck::Differs,
        };
        if let Some(r) = self.audit_page(head.seq - 1, 1).await?.pop()
            && r.seq == head.seq
        {
            return Ok(same(&r.hash));
        }
        match self.audit_anchor().await? {
            Some((seq, hash)) if seq == head.seq => Ok(same(&hash)),
            Some((seq, _)) if seq > head.seq => Ok(HeadCheck::Pruned),
            _ => {
                let tip_seq = self.audit_head().await?.map_or(0, |h| h.seq);
                Ok(HeadCheck::Missing { tip_seq })
            }
        }
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
