-- PostgreSQL dialect of ../0005_spend.sql.
CREATE TABLE IF NOT EXISTS spend (
	key_id  TEXT             PRIMARY KEY,
	usd     DOUBLE PRECISION NOT NULL DEFAULT 0,
	updated BIGINT           NOT NULL DEFAULT 0
);
INSERT INTO spend (key_id, usd, updated)
	SELECT key_id, coalesce(sum(cost_usd), 0)::float8, coalesce(max(ts), 0) FROM requests
	WHERE key_id != '' AND cost_usd IS NOT NULL GROUP BY key_id
	ON CONFLICT (key_id) DO NOTHING;
