-- A second factor for local (password) accounts: TOTP (RFC 6238) and
-- one-time recovery codes, and the person's recent sign-ins for the
-- account page.
CREATE TABLE totp_factors (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The shared secret, sealed (AES-256-GCM, the person's id as associated
    -- data): never stored in the clear.
    secret       BYTEA NOT NULL,
    -- NULL while the person is enrolling: the factor counts once a code
    -- from their authenticator confirmed it.
    confirmed_at BIGINT,
    -- The last time step whose code was accepted: a code is accepted only
    -- for a later step, so a code is never accepted twice.
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Keyed hash of the code; the code is shown once and never stored.
    code_hash  BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when the code is used; a used code never works again.
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- The newest sign-ins of each person (a few per person, older ones are
-- deleted as new ones come): how they signed in, when and from where.
CREATE TABLE sign_ins (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    -- password, password+totp, password+recovery code, passkey
    method     TEXT NOT NULL,
    ip_address TEXT NOT NULL
);
CREATE INDEX sign_ins_user ON sign_ins (user_id, at);
