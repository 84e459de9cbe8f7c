-- The order keys were stored in, which breaks ties between keys created in
-- the same second (SQLite's rowid does the same): every replica then picks
-- the same signer.
ALTER TABLE signing_keys ADD COLUMN seq BIGSERIAL;
