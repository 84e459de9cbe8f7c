-- Authorization codes: single-use, short-lived, bound to everything of the request.
CREATE TABLE authorization_codes (
    -- Keyed hash of the code.
    code_hash         BLOB PRIMARY KEY,
    client_id         TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri      TEXT NOT NULL,
    -- 1 if the authorization request named redirect_uri (the token request must repeat it).
    redirect_uri_sent INTEGER NOT NULL,
    code_challenge    TEXT NOT NULL,
    scope             TEXT NOT NULL,
    resources         TEXT NOT NULL,
    auth_time         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    -- Set by the one successful redemption; a second use finds it set.
    consumed_at       INTEGER,
    -- The refresh family the redemption created, revoked if the code is replayed.
    family_id         TEXT REFERENCES refresh_families (id) ON DELETE SET NULL
) STRICT;
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
