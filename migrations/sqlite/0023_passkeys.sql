-- Passkeys (WebAuthn): a person's registered credentials, and the state of
-- ceremonies in progress (kept here, not in a process, so that the two
-- halves of a ceremony may reach different replicas).
CREATE TABLE passkeys (
    -- The credential id, base64url.
    credential_id TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The person's name for it ("Laptop").
    name          TEXT NOT NULL,
    -- The credential as webauthn-rs keeps it (public key, counter): no secret.
    passkey       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    -- Random id handed to the page; the ceremony is spent by deleting it.
    id           TEXT PRIMARY KEY,
    -- Keyed hash of the browser session that started it: only it can finish.
    session_hash BLOB NOT NULL,
    -- register or sign_in
    kind         TEXT NOT NULL,
    -- The person registering (NULL for a sign-in: the authenticator names them).
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    -- webauthn-rs's state (the challenge): single use, short-lived.
    state        TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
