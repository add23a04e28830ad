-- Client API keys. Only the SHA-256 of a secret is stored (hash), plus a display prefix
-- ("sk-rs-abcd") and suffix ("wxyz") for the masked form. Limits, budget and expiry are
-- NULL when the key uses the gateway defaults (or has none); 0 in a limit column means
-- "unlimited for this key". Times are unix milliseconds (UTC). models is a JSON array of
-- allowed model names ("[]" = every model).
CREATE TABLE IF NOT EXISTS keys (
	id           TEXT    PRIMARY KEY,
	name         TEXT    NOT NULL,
	project      TEXT    NOT NULL DEFAULT '',
	hash         BLOB    NOT NULL UNIQUE,
	prefix       TEXT    NOT NULL,
	suffix       TEXT    NOT NULL,
	rpm          INTEGER,
	rph          INTEGER,
	tpm          INTEGER,
	concurrent   INTEGER,
	models       TEXT    NOT NULL DEFAULT '[]',
	budget_usd   REAL,
	expires_at   INTEGER,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
);
CREATE INDEX IF NOT EXISTS keys_prefix ON keys(prefix);

-- keys_version counts changes that matter to a running gateway (create, revoke, edit,
-- delete) but not last_used_at updates, so the gateway can poll one row cheaply and
-- reload its in-memory key index only when another process changed a key.
-- (PRAGMA data_version is per connection, and the pool hands out several connections,
-- so its values are not comparable from one poll to the next; it also moves on every
-- request-log write.)
CREATE TABLE IF NOT EXISTS keys_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	v  INTEGER NOT NULL
);
INSERT OR IGNORE INTO keys_version(id, v) VALUES (1, 0);

CREATE TRIGGER IF NOT EXISTS keys_version_insert AFTER INSERT ON keys
BEGIN
	UPDATE keys_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS keys_version_delete AFTER DELETE ON keys
BEGIN
	UPDATE keys_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS keys_version_update
AFTER UPDATE OF id, name, project, hash, rpm, rph, tpm, concurrent, models, budget_usd, expires_at, revoked_at ON keys
BEGIN
	UPDATE keys_version SET v = v + 1 WHERE id = 1;
END;
