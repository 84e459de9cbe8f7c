-- Authorization codes: single-use, short-lived, bound to everything of the request.
CREATE TABLE authorization_codes (
    -- Keyed hash of the code.
    code_hash         BYTEA PRIMARY KEY,
    client_id         TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri      TEXT NOT NULL,
    -- Whether the authorization request named redirect_uri (the token request must repeat it).
    redirect_uri_sent BOOLEAN NOT NULL,
    code_challenge    TEXT NOT NULL,
    scope             TEXT NOT NULL,
    resources         TEXT NOT NULL,
    auth_time         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    -- Set by the one successful redemption; a second use finds it set.
    consumed_at       BIGINT,
    -- The refresh family the redemption created, revoked if the code is replayed.
    family_id         TEXT REFERENCES refresh_families (id) ON DELETE SET NULL,
    -- The access token the redemption issued, put on the revocation list on a replay.
    access_jti        TEXT,
    access_exp        BIGINT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_family ON authorization_codes (family_id);
