-- The first migration only marks the schema as initialised; tables come after it.
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
INSERT OR IGNORE INTO meta(k, v) VALUES ('created_by', 'runestone');
