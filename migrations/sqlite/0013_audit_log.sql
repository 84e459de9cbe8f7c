-- The tamper-evident audit trail: each record carries the hash of the one
-- before it, so changing, removing or reordering a record breaks the chain.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    -- Unix seconds when the event happened.
    at        INTEGER NOT NULL,
    -- The event as a JSON object (what is also logged on target tessera::audit).
    event     TEXT NOT NULL,
    -- The previous record's hash (32 zero bytes for the first record).
    prev_hash BLOB NOT NULL,
    -- SHA-256(prev_hash || seq as 8 bytes big-endian || at as 8 bytes big-endian || event).
    hash      BLOB NOT NULL
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at);
