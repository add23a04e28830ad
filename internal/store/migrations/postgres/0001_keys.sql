-- PostgreSQL dialect of ../0001_keys.sql: the same columns (BYTEA for the hash, BIGINT
-- for unix-ms times) and the same keys_version counter, bumped by a trigger, that every
-- replica polls to reload its key index.
CREATE TABLE IF NOT EXISTS keys (
	id           TEXT    PRIMARY KEY,
	name         TEXT    NOT NULL,
	project      TEXT    NOT NULL DEFAULT '',
	hash         BYTEA   NOT NULL UNIQUE,
	prefix       TEXT    NOT NULL,
	suffix       TEXT    NOT NULL,
	rpm          BIGINT,
	rph          BIGINT,
	tpm          BIGINT,
	concurrent   BIGINT,
	models       TEXT    NOT NULL DEFAULT '[]',
	budget_usd   DOUBLE PRECISION,
	expires_at   BIGINT,
	created_at   BIGINT  NOT NULL,
	last_used_at BIGINT,
	revoked_at   BIGINT
);
CREATE INDEX IF NOT EXISTS keys_prefix ON keys(prefix);

CREATE TABLE IF NOT EXISTS keys_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	v  BIGINT  NOT NULL
);
INSERT INTO keys_version(id, v) VALUES (1, 0) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION runestone_bump_keys_version() RETURNS trigger AS $$
BEGIN
	UPDATE keys_version SET v = v + 1 WHERE id = 1;
	PERFORM pg_notify('runestone_keys', '');
	RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER keys_version_insert AFTER INSERT ON keys
	FOR EACH ROW EXECUTE FUNCTION runestone_bump_keys_version();
CREATE TRIGGER keys_version_delete AFTER DELETE ON keys
	FOR EACH ROW EXECUTE FUNCTION runestone_bump_keys_version();
CREATE TRIGGER keys_version_update
	AFTER UPDATE OF id, name, project, hash, rpm, rph, tpm, concurrent, models, budget_usd, expires_at, revoked_at ON keys
	FOR EACH ROW EXECUTE FUNCTION runestone_bump_keys_version();
