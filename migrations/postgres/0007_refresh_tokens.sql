-- Refresh-token families (one per authorization) and their rotated members.
CREATE TABLE refresh_families (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Granted scope and space-separated resource URIs; refreshes may narrow, never widen.
    scope       TEXT NOT NULL,
    resources   TEXT NOT NULL,
    auth_time   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- Set when the family is revoked (reuse detected, code replay, revocation).
    revoked_at  BIGINT,
    revoked_why TEXT
);
CREATE INDEX refresh_families_user_client ON refresh_families (user_id, client_id);
CREATE INDEX refresh_families_client ON refresh_families (client_id);

CREATE TABLE refresh_tokens (
    -- Keyed hash of the token; the token itself is never stored.
    token_hash BYTEA PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    -- Idle expiry: each rotation issues a token with a fresh lifetime.
    expires_at BIGINT NOT NULL,
    -- Set when this token was exchanged for a new one; a later use is reuse.
    rotated_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
