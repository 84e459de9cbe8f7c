-- Sessions by person: "sign out everywhere", a password change and disabling
-- a person end every session of one person; without this index each of
-- those scans the table. (PostgreSQL has had `sessions_user` from the start.)
CREATE INDEX sessions_user ON sessions (user_id);
