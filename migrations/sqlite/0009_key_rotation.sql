-- Key rotation: a key is published from created_at, signs from activates_at
-- until the next key activates, and stays published until every
-- token it signed has expired.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
-- 1 when private_der is sealed with the operator's TESSERA_KEY_ENCRYPTION_KEY
-- (AES-256-GCM: 12-byte nonce || ciphertext || tag).
ALTER TABLE signing_keys ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
