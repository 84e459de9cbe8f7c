-- Changes other processes must hear of at once (a client removed or updated,
-- a key added or retired, a person removed or their password changed, a
-- consent withdrawn), so that caches elsewhere can drop what they hold.
-- Every replica reads the rows after the last it saw, a few times a second;
-- rows older than an hour are purged.
CREATE TABLE changes (
    seq  BIGSERIAL PRIMARY KEY,
    -- The database's own clock: only the purge reads it.
    at   BIGINT NOT NULL DEFAULT EXTRACT(EPOCH FROM now())::BIGINT,
    -- 'client' | 'key' | 'user' | 'consent'.
    kind TEXT NOT NULL,
    -- What changed: a client id, a kid, a user id; '*' for many at once.
    key  TEXT NOT NULL
);
CREATE INDEX changes_at ON changes (at);
