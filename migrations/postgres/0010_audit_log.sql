-- The tamper-evident audit trail: each record carries the hash of the one
-- before it, so changing, removing or reordering a record breaks the chain.
-- Writers append under a transaction-scoped advisory lock, so concurrent
-- replicas never fork it.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    -- Unix seconds when the event happened.
    at        BIGINT NOT NULL,
    -- The event as a JSON object (what is also logged on target tessera::audit).
    event     TEXT NOT NULL,
    -- The previous record's hash (32 zero bytes for the first record).
    prev_hash BYTEA NOT NULL,
    -- SHA-256(prev_hash || seq as 8 bytes big-endian || at as 8 bytes big-endian || event).
    hash      BYTEA NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Where the retained chain begins once older records have been pruned: the
-- last pruned record's seq and hash. At most one row.
CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL,
    hash      BYTEA NOT NULL,
    -- Unix seconds of the pruning that moved the anchor here.
    pruned_at BIGINT NOT NULL
);
