-- Access-token signing keys. The private key never leaves the database.
CREATE TABLE signing_keys (
    -- RFC 7638 thumbprint of the public key.
    kid         TEXT PRIMARY KEY,
    -- 'ES256' | 'RS256' | 'EdDSA'.
    alg         TEXT NOT NULL,
    -- PKCS#8 (ES256, EdDSA) or PKCS#1 (RS256) DER.
    private_der BLOB NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
