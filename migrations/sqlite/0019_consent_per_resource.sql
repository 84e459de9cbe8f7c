-- Consent is given per person, client and resource (the MCP server the
-- token is for): allowing `mcp:tools:weather` at one server says nothing
-- about another. Rows from before keep resource '' and so match no request:
-- the person is asked once more, at the resource they are now asked for.
CREATE TABLE consents_per_resource (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- The registered URI of the resource the consent is for.
    resource   TEXT NOT NULL,
    -- Space-separated granted scopes; step-up requests merge into it.
    scope      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id, resource)
) STRICT;
INSERT INTO consents_per_resource (user_id, client_id, resource, scope, updated_at)
    SELECT user_id, client_id, '', scope, updated_at FROM consents;
DROP TABLE consents;
ALTER TABLE consents_per_resource RENAME TO consents;
