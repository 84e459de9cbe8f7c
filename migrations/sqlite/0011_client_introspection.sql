-- 1 for clients (resource servers) allowed to call the introspection endpoint.
ALTER TABLE clients ADD COLUMN can_introspect INTEGER NOT NULL DEFAULT 0;
