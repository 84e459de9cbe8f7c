-- Sign-ins under way at an upstream OpenID provider: created when the person
-- leaves for the provider, spent (deleted) by the one callback that comes
-- back, so a replayed callback finds nothing. Nothing secret is stored: the
-- nonce and PKCE verifier are derived from the state with the server's key.
CREATE TABLE upstream_logins (
    -- Keyed hash of the `state` parameter.
    state_hash   BLOB PRIMARY KEY,
    -- The `[[identity_providers]]` id.
    provider     TEXT NOT NULL,
    -- Keyed hash of the browser session that started it: the callback must
    -- come back to the same browser (login CSRF).
    session_hash BLOB NOT NULL,
    -- The pending MCP authorization request (JSON), resumed after the callback.
    request      TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX upstream_logins_expiry ON upstream_logins (expires_at);
