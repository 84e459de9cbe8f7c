-- A grace-window replay starts a second branch of a family; the next rotation
-- of any branch supersedes every other live one (RFC 9700 §4.14.2: at most
-- one chain survives). A superseded token presented again is reuse.
ALTER TABLE refresh_tokens ADD COLUMN superseded BOOLEAN NOT NULL DEFAULT FALSE;
-- Finds a family's live tokens without reading its rotated history.
CREATE INDEX refresh_tokens_live ON refresh_tokens (family_id) WHERE rotated_at IS NULL;
