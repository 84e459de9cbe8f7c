-- Where the retained audit chain begins once older records have been pruned
-- (audit retention): the last pruned record's seq and hash. The first record
-- kept carries that hash as its prev_hash, so verification starts here and a
-- record removed in any other way still breaks the chain. At most one row.
CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      BLOB NOT NULL,
    -- Unix seconds of the pruning that moved the anchor here.
    pruned_at INTEGER NOT NULL
) STRICT;
