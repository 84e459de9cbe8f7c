-- Server-wide values generated once and kept with the data.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    -- e.g. 'client_secret_pepper': 32 random bytes keying the client-secret HMAC.
    value BYTEA NOT NULL
);
