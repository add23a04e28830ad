-- PostgreSQL dialect of ../0000_init.sql.
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
INSERT INTO meta(k, v) VALUES ('created_by', 'runestone') ON CONFLICT DO NOTHING;
