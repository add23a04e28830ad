-- PostgreSQL dialect of ../0003_dialects.sql.
ALTER TABLE requests ADD COLUMN IF NOT EXISTS dialect TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN IF NOT EXISTS upstream_dialect TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN IF NOT EXISTS session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN IF NOT EXISTS cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS dropped TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS requests_session ON requests(session_id, ts) WHERE session_id != '';
