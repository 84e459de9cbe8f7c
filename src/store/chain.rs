//! The hash chain over audit records (pure): how each record links to the one
//! before it, and the verifier `tessera audit verify` runs. The chain is the
//! storage format of the trail, extended by the backend inside its write lock.

use ring::digest::{SHA256, digest};

pub const GENESIS: [u8; 32] = [0; 32];

pub fn link(prev: &[u8], seq: i64, at: i64, event: &str) -> Vec<u8> {
    let mut input = Vec::with_capacity(prev.len() + 16 + event.len());
    input.extend_from_slice(prev);
    input.extend_from_slice(&seq.to_be_bytes());
    input.extend_from_slice(&at.to_be_bytes());
    input.extend_from_slice(event.as_bytes());
    digest(&SHA256, &input).as_ref().to_vec()
}

/// A stored record, as verification reads it.
pub struct Record {
    pub seq: i64,
    pub at: i64,
    pub event: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Checks records in chain order, one at a time (the log may not fit in memory).
pub struct Verifier {
    prev: Vec<u8>,
    next_seq: i64,
    pub checked: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            prev: GENESIS.to_vec(),
            next_seq: 1,
            checked: 0,
        }
    }
}

impl Verifier {
    /// Verify a chain whose records up to `seq` were pruned: the next record
    /// must be `seq + 1` and link to `hash` (see `audit_anchor`).
    pub fn from_anchor(seq: i64, hash: Vec<u8>) -> Self {
        Self {
            prev: hash,
            next_seq: seq + 1,
            checked: 0,
        }
    }

    /// `Err((seq, why))` at the first record that breaks the chain.
    pub fn feed(&mut self, r: &Record) -> Result<(), (i64, String)> {
        if r.seq != self.next_seq {
            return Err((
                r.seq,
                format!("records {}..{} are missing", self.next_seq, r.seq - 1),
            ));
        }
        if r.prev_hash != self.prev {
            return Err((
                r.seq,
                "its prev_hash does not match the record before it".into(),
            ));
        }
        if link(&r.prev_hash, r.seq, r.at, &r.event) != r.hash {
            return Err((
                r.seq,
                "its hash does not match its content (the record was changed)".into(),
            ));
        }
        self.prev = r.hash.clone();
        self.next_seq = r.seq + 1;
        self.checked += 1;
        Ok(())
    }
}

/// Where the chain breaks first, if it does.
pub fn first_break<'a>(records: impl IntoIterator<Item = &'a Record>) -> Option<(i64, String)> {
    let mut v = Verifier::default();
    records.into_iter().find_map(|r| v.feed(r).err())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Record> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let event = format!("{{\"n\":{seq}}}");
                let hash = link(&prev, seq, 100 + seq, &event);
                let r = Record {
                    seq,
                    at: 100 + seq,
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_any_change_is_located() {
        assert_eq!(first_break(&chain(5)), None);
        let mut changed = chain(5);
        changed[2].event = "{\"n\":99}".into();
        assert_eq!(first_break(&changed).unwrap().0, 3);
        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(first_break(&removed).unwrap().0, 3);
        let mut reordered = chain(5);
        reordered.swap(3, 4);
        assert_eq!(first_break(&reordered).unwrap().0, 5);
    }

    #[test]
    fn a_pruned_chain_verifies_from_its_anchor() {
        let records = chain(6);
        // Records 1..=2 pruned: the anchor is record 2's hash.
        let mut v = Verifier::from_anchor(2, records[1].hash.clone());
        assert!(records[2..].iter().all(|r| v.feed(r).is_ok()));
        assert_eq!(v.checked, 4);
        // One more record removed from the front (without moving the anchor).
        let mut v = Verifier::from_anchor(2, records[1].hash.clone());
        assert_eq!(v.feed(&records[3]).unwrap_err().0, 4);
        // An anchor that is not the pruned record's hash.
        let mut v = Verifier::from_anchor(2, records[0].hash.clone());
        assert_eq!(v.feed(&records[2]).unwrap_err().0, 3);
    }
}
