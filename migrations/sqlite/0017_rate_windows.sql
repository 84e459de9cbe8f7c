-- Rate-limit windows counted in the database, for deployments where several
-- processes serve and must share their counts. A single SQLite server counts
-- in memory and leaves this table empty.
CREATE TABLE rate_windows (
    -- What is counted: e.g. 'token:CLIENT_ID', 'authorize:IP'.
    key        TEXT PRIMARY KEY,
    -- Unix seconds when the key's current window began.
    started_at INTEGER NOT NULL,
    -- The window's length in seconds (fixed per kind of limit).
    length     INTEGER NOT NULL,
    -- Events counted in that window.
    count      INTEGER NOT NULL
) STRICT;
