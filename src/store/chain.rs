//! The hash chain over audit records (pure): how each record links to the one
//! before it, and the verifier `tessera audit verify` runs. The chain is the
//! storage format of the trail, extended by the backend inside its write lock.
//!
//! A record's hash covers the previous record's hash, its `seq`, its time
//! and its event. Records from `keyed_from` on (the first record a build
//! with a chain key appended; kept in `settings` as `audit_chain_keyed_from`)
//! are HMAC-SHA-256 under the chain key, which lives apart from the data when
//! the operator configures one: without the key, someone who can write the
//! database cannot recompute the chain after changing or removing a record.
//! Records from before are plain SHA-256, as earlier builds wrote them, and
//! keep verifying. Deleting the newest records leaves an intact shorter chain:
//! an exported head (`tessera audit head`, the server's periodic `audit chain
//! head` line) is what catches that (`verify --expect-head`).
//!
//! The MAC itself is computed where keyed cryptography lives
//! (`secrets::audit_chain_mac`); this module only holds it.

use std::sync::{Arc, OnceLock};

use ring::digest::{SHA256, digest};

pub const GENESIS: [u8; 32] = [0; 32];

/// The setting holding the first keyed record's `seq` (8 bytes, big-endian),
/// written with that record.
pub const KEYED_FROM: &str = "audit_chain_keyed_from";
/// The setting holding the chain key's [`ChainKey::fingerprint`].
pub const KEY_CHECK: &str = "audit_chain_key_check";

/// A `seq` as the `KEYED_FROM` setting stores it, and back.
pub fn seq_bytes(seq: i64) -> Vec<u8> {
    seq.to_be_bytes().to_vec()
}

pub fn seq_of(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(bytes.try_into().ok()?))
}

/// What a record's hash covers: `prev || seq || at || event`.
fn input(prev: &[u8], seq: i64, at: i64, event: &str) -> Vec<u8> {
    let mut input = Vec::with_capacity(prev.len() + 16 + event.len());
    input.extend_from_slice(prev);
    input.extend_from_slice(&seq.to_be_bytes());
    input.extend_from_slice(&at.to_be_bytes());
    input.extend_from_slice(event.as_bytes());
    input
}

/// The unkeyed link of records written before the chain was keyed.
pub fn link(prev: &[u8], seq: i64, at: i64, event: &str) -> Vec<u8> {
    digest(&SHA256, &input(prev, seq, at, event))
        .as_ref()
        .to_vec()
}

/// A MAC: the tag of an input.
type Mac = dyn Fn(&[u8]) -> Vec<u8> + Send + Sync;

/// The chain key: a MAC over a record's link input. `Debug` shows nothing.
#[derive(Clone)]
pub struct ChainKey {
    mac: Arc<Mac>,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

impl ChainKey {
    pub fn new(mac: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> Self {
        Self { mac: Arc::new(mac) }
    }

    /// What the database keeps to recognise the key (`audit_chain_key_check`),
    /// so that a process started with another key refuses to extend the chain
    /// instead of breaking it. It does not reveal the key.
    pub fn fingerprint(&self) -> Vec<u8> {
        (self.mac)(b"tessera audit chain key check")
    }
}

/// Where a backend's writer finds the chain key once it is loaded
/// ([`super::Store::key_audit_chain`]); appending fails until then.
pub type KeySlot = Arc<OnceLock<ChainKey>>;

/// How the records of one chain are hashed: unkeyed before `keyed_from`,
/// under `key` from it on.
#[derive(Debug, Clone)]
pub struct Linker {
    pub key: ChainKey,
    pub keyed_from: i64,
}

impl Linker {
    pub fn link(&self, prev: &[u8], seq: i64, at: i64, event: &str) -> Vec<u8> {
        if seq < self.keyed_from {
            return link(prev, seq, at, event);
        }
        (self.key.mac)(&input(prev, seq, at, event))
    }
}

/// The newest record's position, as exported and checked: `SEQ:HEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: Vec<u8>,
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.seq)?;
        self.hash.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::str::FromStr for Head {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("'{s}' is not an audit head (SEQ:HEX, as `tessera audit head` prints)");
        let (seq, hex) = s.trim().split_once(':').ok_or_else(bad)?;
        let seq = seq.parse().map_err(|_| bad())?;
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let hash = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        Ok(Self { seq, hash })
    }
}

/// A stored record, as verification reads it.
pub struct Record {
    pub seq: i64,
    pub at: i64,
    /// The event as stored and hashed: since the compact form, without the
    /// `"timestamp"` the `at` column holds ([`Record::event_with_time`]).
    pub event: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// What follows an event's kind in its JSON when the time is in it.
const TIMESTAMP_KEY: &str = ",\"timestamp\":\"";

impl Record {
    /// The event as it was logged: `{"event":…,"timestamp":…,…}`. Records
    /// stored in the compact form get their time back from `at`; earlier
    /// ones carry it already.
    pub fn event_with_time(&self) -> std::borrow::Cow<'_, str> {
        match kind_end(&self.event) {
            Some(end) if !self.event[end..].starts_with(TIMESTAMP_KEY) => {
                let time = tessera_resource::clock::rfc3339(self.at);
                let mut full = String::with_capacity(self.event.len() + time.len() + 16);
                full.push_str(&self.event[..end]);
                full.push_str(TIMESTAMP_KEY);
                full.push_str(&time);
                full.push('"');
                full.push_str(&self.event[end..]);
                full.into()
            }
            _ => self.event.as_str().into(),
        }
    }
}

/// The compact form of an event's JSON for storage: without the
/// `"timestamp"` member `audit::event_json` writes after the kind, which the
/// record's `at` column holds (the same second). Anything else is kept.
pub fn compact(mut event: String) -> String {
    if let Some(end) = kind_end(&event)
        && event[end..].starts_with(TIMESTAMP_KEY)
    {
        let value = end + TIMESTAMP_KEY.len();
        if let Some(close) = event[value..].find('"') {
            event.replace_range(end..value + close + 1, "");
        }
    }
    event
}

/// Where the kind's string ends in `{"event":"kind"…`: the kinds are plain
/// names, with nothing escaped.
fn kind_end(event: &str) -> Option<usize> {
    let rest = event.strip_prefix("{\"event\":\"")?;
    rest.find('"').map(|i| "{\"event\":\"".len() + i + 1)
}

/// Checks records in chain order, one at a time (the log may not fit in memory).
pub struct Verifier {
    linker: Linker,
    prev: Vec<u8>,
    next_seq: i64,
    pub checked: u64,
}

impl Verifier {
    /// Verify a chain from its first record.
    pub fn new(linker: Linker) -> Self {
        Self::from_anchor(linker, 0, GENESIS.to_vec())
    }

    /// Verify a chain whose records up to `seq` were pruned: the next record
    /// must be `seq + 1` and link to `hash` (see `audit_anchor`).
    pub fn from_anchor(linker: Linker, seq: i64, hash: Vec<u8>) -> Self {
        Self {
            linker,
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
        if self.linker.link(&r.prev_hash, r.seq, r.at, &r.event) != r.hash {
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
pub fn first_break<'a>(
    linker: &Linker,
    records: impl IntoIterator<Item = &'a Record>,
) -> Option<(i64, String)> {
    let mut v = Verifier::new(linker.clone());
    records.into_iter().find_map(|r| v.feed(r).err())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_compact_record_drops_the_time_its_column_holds_and_gets_it_back() {
        let at = 1_796_600_000;
        let full =
            crate::audit::event_json("token_issued", at, &serde_json::json!({"client_id": "c1"}));
        let stored = compact(full.clone());
        assert!(!stored.contains("timestamp"), "{stored}");
        assert!(stored.len() + 30 < full.len());
        let record = |event: String| Record {
            seq: 1,
            at,
            event,
            prev_hash: vec![],
            hash: vec![],
        };
        assert_eq!(record(stored).event_with_time(), full);
        // A record stored before the compact form is read as it is.
        assert_eq!(record(full.clone()).event_with_time(), full);
        // Anything not shaped like an event is left alone.
        assert_eq!(compact("{\"n\":1}".into()), "{\"n\":1}");
    }

    use super::*;

    /// A stand-in MAC for the pure tests (the real one is HMAC-SHA-256).
    fn linker(key: u8, keyed_from: i64) -> Linker {
        let key = ChainKey::new(move |input| {
            let mut keyed = vec![key];
            keyed.extend_from_slice(input);
            digest(&SHA256, &keyed).as_ref().to_vec()
        });
        Linker { key, keyed_from }
    }

    fn chain_with(l: &Linker, n: i64) -> Vec<Record> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let event = format!("{{\"n\":{seq}}}");
                let hash = l.link(&prev, seq, 100 + seq, &event);
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

    fn chain(n: i64) -> Vec<Record> {
        chain_with(&linker(1, 1), n)
    }

    #[test]
    fn an_intact_chain_verifies_and_any_change_is_located() {
        let l = linker(1, 1);
        assert_eq!(first_break(&l, &chain(5)), None);
        let mut changed = chain(5);
        changed[2].event = "{\"n\":99}".into();
        assert_eq!(first_break(&l, &changed).unwrap().0, 3);
        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(first_break(&l, &removed).unwrap().0, 3);
        let mut reordered = chain(5);
        reordered.swap(3, 4);
        assert_eq!(first_break(&l, &reordered).unwrap().0, 5);
    }

    #[test]
    fn without_the_key_a_changed_record_cannot_be_rehashed_into_the_chain() {
        let l = linker(1, 1);
        let mut forged = chain(3);
        // Someone who can write the database, but has no key, changes the
        // newest record and recomputes its hash the only way they can.
        forged[2].event = "{\"n\":99}".into();
        forged[2].hash = link(&forged[2].prev_hash, 3, forged[2].at, &forged[2].event);
        assert_eq!(first_break(&l, &forged).unwrap().0, 3);
        // … or with a key of their own.
        let theirs = linker(2, 1);
        forged[2].hash = theirs.link(&forged[2].prev_hash, 3, forged[2].at, &forged[2].event);
        assert_eq!(first_break(&l, &forged).unwrap().0, 3);
    }

    #[test]
    fn records_from_before_the_key_keep_verifying_unkeyed() {
        // Records 1..=3 written by an earlier build, 4.. keyed.
        let l = linker(1, 4);
        let records = chain_with(&l, 6);
        assert_eq!(
            records[2].hash,
            link(&records[2].prev_hash, 3, 103, "{\"n\":3}")
        );
        assert_ne!(
            records[3].hash,
            link(&records[3].prev_hash, 4, 104, "{\"n\":4}")
        );
        assert_eq!(first_break(&l, &records), None);
        // A keyed record rewritten unkeyed is a break.
        let mut downgraded = chain_with(&l, 6);
        downgraded[4].hash = link(&downgraded[4].prev_hash, 5, 105, "{\"n\":5}");
        assert_eq!(first_break(&l, &downgraded).unwrap().0, 5);
    }

    #[test]
    fn a_pruned_chain_verifies_from_its_anchor() {
        let records = chain(6);
        let l = linker(1, 1);
        // Records 1..=2 pruned: the anchor is record 2's hash.
        let mut v = Verifier::from_anchor(l.clone(), 2, records[1].hash.clone());
        assert!(records[2..].iter().all(|r| v.feed(r).is_ok()));
        assert_eq!(v.checked, 4);
        // One more record removed from the front (without moving the anchor).
        let mut v = Verifier::from_anchor(l.clone(), 2, records[1].hash.clone());
        assert_eq!(v.feed(&records[3]).unwrap_err().0, 4);
        // An anchor that is not the pruned record's hash.
        let mut v = Verifier::from_anchor(l, 2, records[0].hash.clone());
        assert_eq!(v.feed(&records[2]).unwrap_err().0, 3);
    }

    #[test]
    fn a_head_prints_and_parses_as_seq_and_hex() {
        let head = Head {
            seq: 42,
            hash: (0..32).collect(),
        };
        let text = head.to_string();
        assert_eq!(text.len(), 3 + 64);
        assert!(text.starts_with("42:000102"));
        assert_eq!(text.parse::<Head>(), Ok(head));
        for bad in ["", "42", "x:00", "42:zz", "42:0001"] {
            assert!(bad.parse::<Head>().is_err(), "{bad}");
        }
    }
}
