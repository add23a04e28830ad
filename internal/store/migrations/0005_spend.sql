-- The spend ledger: USD spent per key, what budgets are checked against. It is kept
-- apart from the request log so that log retention (which deletes old rows) never
-- gives a key its budget back. Rows are added in the same transaction as the log
-- rows they sum, so the two agree until retention prunes the log. Seeded from the log.
CREATE TABLE IF NOT EXISTS spend (
	key_id  TEXT    PRIMARY KEY,
	usd     REAL    NOT NULL DEFAULT 0,
	updated INTEGER NOT NULL DEFAULT 0   -- unix ms of the last addition
);
INSERT INTO spend (key_id, usd, updated)
	SELECT key_id, total(cost_usd), coalesce(max(ts), 0) FROM requests
	WHERE key_id != '' AND cost_usd IS NOT NULL GROUP BY key_id
	ON CONFLICT(key_id) DO NOTHING;
