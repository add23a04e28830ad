-- PostgreSQL dialect of ../0006_budget_period.sql.
ALTER TABLE keys ADD COLUMN IF NOT EXISTS budget_period TEXT NOT NULL DEFAULT '';

DROP TRIGGER IF EXISTS keys_version_update ON keys;
CREATE TRIGGER keys_version_update
	AFTER UPDATE OF id, name, project, hash, rpm, rph, tpm, concurrent, models, budget_usd, budget_period, expires_at, revoked_at ON keys
	FOR EACH ROW EXECUTE FUNCTION runestone_bump_keys_version();

ALTER TABLE spend ADD COLUMN IF NOT EXISTS period_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE spend DROP CONSTRAINT IF EXISTS spend_pkey;
ALTER TABLE spend ADD PRIMARY KEY (key_id, period_start);
