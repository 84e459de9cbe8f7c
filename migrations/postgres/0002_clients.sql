-- OAuth clients, registered dynamically (RFC 7591) or by an administrator.
CREATE TABLE clients (
    id                      TEXT PRIMARY KEY,
    -- HMAC-SHA-256(pepper, secret); NULL for public clients (auth method 'none').
    secret_hash             BYTEA,
    -- RFC 7591 client_secret_expires_at: unix seconds, 0 = never.
    secret_expires_at       BIGINT NOT NULL DEFAULT 0,
    -- 'none' | 'client_secret_basic' | 'client_secret_post'.
    auth_method             TEXT NOT NULL,
    -- Space-separated grant types; read on every token request.
    grant_types             TEXT NOT NULL,
    -- Space-separated registered scope: the ceiling for client_credentials.
    scope                   TEXT NOT NULL DEFAULT '',
    -- Space-separated resource URIs the client is bound to; '' = any.
    audience                TEXT NOT NULL DEFAULT '',
    -- The registered metadata as echoed to the client (a JSON object, as text).
    metadata                TEXT NOT NULL,
    -- 'admin' (CLI), 'registration' (POST /register) or 'metadata_document'.
    created_by              TEXT NOT NULL,
    created_at              BIGINT NOT NULL,
    -- A resource server allowed to call the introspection endpoint.
    can_introspect          BOOLEAN NOT NULL DEFAULT FALSE,
    -- Keyed hash of the RFC 7592 registration access token; NULL if not registered by /register.
    registration_token_hash BYTEA,
    -- Last time a person authorized this client (a code was issued); NULL = never.
    last_used_at            BIGINT
);
