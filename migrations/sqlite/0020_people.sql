-- People linked to an upstream OpenID provider: one row per (provider, sub),
-- never matched by e-mail. A person may hold several links (one per provider).
CREATE TABLE user_identities (
    -- The `id` of the `[[identity_providers]]` entry.
    provider     TEXT NOT NULL,
    -- The provider's `sub` claim: stable and never reassigned by it.
    subject      TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- As the provider last reported them (informational; never used to link).
    email        TEXT,
    -- JSON array of the groups seen at the last sign-in (the scope policy reads them).
    groups       TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
) STRICT;
CREATE INDEX user_identities_user ON user_identities (user_id);

-- Local roles (space-separated; the scope policy maps them to scopes) and
-- the disabled state: a disabled person cannot sign in, refresh or obtain a
-- token. A person provisioned from a provider has password_hash '' (no password).
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
