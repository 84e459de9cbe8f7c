-- Access-token signing keys. A key is published from created_at, signs from
-- activates_at until the next key activates, and stays published until every
-- token it signed has expired.
CREATE TABLE signing_keys (
    -- RFC 7638 thumbprint of the public key.
    kid          TEXT PRIMARY KEY,
    -- 'ES256' | 'RS256' | 'EdDSA'.
    alg          TEXT NOT NULL,
    -- PKCS#8 (ES256, EdDSA) or PKCS#1 (RS256) DER; sealed when `encrypted`.
    private_der  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL DEFAULT 0,
    -- TRUE when private_der is sealed with the operator's TESSERA_KEY_ENCRYPTION_KEY
    -- (AES-256-GCM: 12-byte nonce || ciphertext || tag).
    encrypted    BOOLEAN NOT NULL DEFAULT FALSE
);
