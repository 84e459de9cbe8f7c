-- Consent is given per person, client and resource (the MCP server the
-- token is for): allowing `mcp:tools:weather` at one server says nothing
-- about another. Rows from before keep resource '' and so match no request:
-- the person is asked once more, at the resource they are now asked for.
ALTER TABLE consents ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE consents DROP CONSTRAINT consents_pkey;
ALTER TABLE consents ADD PRIMARY KEY (user_id, client_id, resource);
