-- OAuth clients, registered dynamically (RFC 7591) or by an administrator.
CREATE TABLE clients (
    id                TEXT PRIMARY KEY,
    -- HMAC-SHA-256(pepper, secret); NULL for public clients (auth method 'none').
    secret_hash       BLOB,
    -- RFC 7591 client_secret_expires_at: unix seconds, 0 = never.
    secret_expires_at INTEGER NOT NULL DEFAULT 0,
    -- 'none' | 'client_secret_basic' | 'client_secret_post'.
    auth_method       TEXT NOT NULL,
    -- Space-separated grant types; read on every token request.
    grant_types       TEXT NOT NULL,
    -- Space-separated registered scope: the ceiling for client_credentials.
    scope             TEXT NOT NULL DEFAULT '',
    -- Space-separated resource URIs the client is bound to; '' = any.
    audience          TEXT NOT NULL DEFAULT '',
    -- The registered metadata as echoed to the client (JSON object).
    metadata          TEXT NOT NULL,
    -- 'admin' (CLI) or 'registration' (POST /register).
    created_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL
) STRICT;
