-- Rate-limit windows shared by every replica: a client's tier, an IP's
-- limits, failed sign-ins hold for the cluster, not per replica. UNLOGGED:
-- counts need no fsync and may be lost in a crash (the windows start again).
CREATE UNLOGGED TABLE rate_windows (
    -- What is counted: e.g. 'token:CLIENT_ID', 'authorize:IP'.
    key        TEXT PRIMARY KEY,
    -- Unix seconds when the key's current window began.
    started_at BIGINT NOT NULL,
    -- The window's length in seconds (fixed per kind of limit).
    length     BIGINT NOT NULL,
    -- Events counted in that window.
    count      INTEGER NOT NULL
);
CREATE INDEX rate_windows_started ON rate_windows (started_at);
