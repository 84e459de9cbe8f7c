-- Access tokens revoked before their expiry (RFC 7009), by `jti`. Rows are
-- purged once the token would have expired anyway, so the list stays small.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
