-- Browser sessions at the authorization server.
CREATE TABLE sessions (
    -- Keyed hash of the session cookie value; the cookie itself is never stored.
    id_hash    BYTEA PRIMARY KEY,
    -- NULL until the person signs in (a pre-sign-in session only carries the CSRF token).
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    -- Per-session CSRF token put in every form.
    csrf       TEXT NOT NULL,
    -- When the person authenticated (the token `auth_time`).
    auth_time  BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);
