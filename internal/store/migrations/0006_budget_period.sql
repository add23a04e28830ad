-- Budget periods: a key's budget may start over every UTC day, week (from Monday) or
-- month ('' = a lifetime budget). The spend ledger is keyed by (key, period start in
-- unix ms): period_start 0 holds each key's lifetime total, booked for every key as
-- before, and a key with a period also books its current period's row. Old periods'
-- rows stay, like the lifetime ones, so log retention never gives spend back.
ALTER TABLE keys ADD COLUMN budget_period TEXT NOT NULL DEFAULT '';

DROP TRIGGER IF EXISTS keys_version_update;
CREATE TRIGGER keys_version_update
AFTER UPDATE OF id, name, project, hash, rpm, rph, tpm, concurrent, models, budget_usd, budget_period, expires_at, revoked_at ON keys
BEGIN
	UPDATE keys_version SET v = v + 1 WHERE id = 1;
END;

-- SQLite cannot change a primary key in place: copy into the new shape.
CREATE TABLE spend_periods (
	key_id       TEXT    NOT NULL,
	period_start INTEGER NOT NULL DEFAULT 0,
	usd          REAL    NOT NULL DEFAULT 0,
	updated      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, period_start)
);
INSERT INTO spend_periods (key_id, period_start, usd, updated) SELECT key_id, 0, usd, updated FROM spend;
DROP TABLE spend;
ALTER TABLE spend_periods RENAME TO spend;
