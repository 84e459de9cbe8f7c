-- RFC 7592 registration management, and pruning of registrations never used.
-- Keyed hash of the registration access token; NULL for clients not created by /register.
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
-- Last time a person authorized this client (a code was issued); NULL = never.
ALTER TABLE clients ADD COLUMN last_used_at INTEGER;
