-- The JWT assertions already accepted (RFC 7523 §3: a `jti` is used once):
-- client assertions (private_key_jwt) and identity assertions (ID-JAG). Every
-- process on this database shares it; a row lives until its assertion expires
-- and the janitor purges it.
CREATE TABLE assertion_jtis (
    -- SHA-256 (hex) of the assertion's issuer and jti: who signed it and which one.
    key        TEXT PRIMARY KEY,
    -- Unix seconds when the assertion expires (and the row may go).
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX assertion_jtis_expiry ON assertion_jtis (expires_at);
