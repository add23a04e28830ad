-- PostgreSQL dialect of ../0009_sessions.sql.
ALTER TABLE requests ADD COLUMN IF NOT EXISTS agent TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN IF NOT EXISTS agent_version TEXT NOT NULL DEFAULT '';
