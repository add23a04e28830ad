-- The request log: one row per finished request. id is the request's x-request-id and is
-- deliberately not unique (clients may reuse ids); seq orders rows and lets `logs --follow`
-- poll for new ones. cost_usd is NULL when the model has no price (never 0 for "unknown");
-- ttft_ms is NULL for non-stream requests. No foreign key to keys: static keys from the
-- environment have no row, and a log row must outlive the key it names.
CREATE TABLE IF NOT EXISTS requests (
	seq               INTEGER PRIMARY KEY AUTOINCREMENT,
	id                TEXT    NOT NULL,
	ts                INTEGER NOT NULL,             -- unix ms at start
	key_id            TEXT    NOT NULL DEFAULT '',
	key_name          TEXT    NOT NULL DEFAULT '',
	project           TEXT    NOT NULL DEFAULT '',
	endpoint          TEXT    NOT NULL DEFAULT '',
	model             TEXT    NOT NULL DEFAULT '',  -- as requested
	provider          TEXT    NOT NULL DEFAULT '',
	upstream_model    TEXT    NOT NULL DEFAULT '',
	providers_tried   TEXT    NOT NULL DEFAULT '',  -- comma list, in order
	status            INTEGER NOT NULL DEFAULT 0,
	stream            INTEGER NOT NULL DEFAULT 0,
	latency_ms        REAL    NOT NULL DEFAULT 0,
	ttft_ms           REAL,
	overhead_ms       REAL    NOT NULL DEFAULT 0,
	prompt_tokens     INTEGER NOT NULL DEFAULT 0,
	completion_tokens INTEGER NOT NULL DEFAULT 0,
	cached_tokens     INTEGER NOT NULL DEFAULT 0,
	tokens_estimated  INTEGER NOT NULL DEFAULT 0,
	cost_usd          REAL,
	attempts          INTEGER NOT NULL DEFAULT 0,
	error             TEXT    NOT NULL DEFAULT '',
	request_body      TEXT    NOT NULL DEFAULT '',
	response_body     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts);
CREATE INDEX IF NOT EXISTS requests_key_ts ON requests(key_id, ts);
CREATE INDEX IF NOT EXISTS requests_id ON requests(id);
