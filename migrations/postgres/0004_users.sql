-- People who sign in at the authorization endpoint.
CREATE TABLE users (
    -- Stable identifier, issued as the token `sub`; never reused.
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    -- Argon2id PHC string (OWASP parameters).
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
