-- PostgreSQL dialect of ../0002_requests.sql (BIGSERIAL seq, BOOLEAN flags).
CREATE TABLE IF NOT EXISTS requests (
	seq               BIGSERIAL PRIMARY KEY,
	id                TEXT    NOT NULL,
	ts                BIGINT  NOT NULL,
	key_id            TEXT    NOT NULL DEFAULT '',
	key_name          TEXT    NOT NULL DEFAULT '',
	project           TEXT    NOT NULL DEFAULT '',
	endpoint          TEXT    NOT NULL DEFAULT '',
	model             TEXT    NOT NULL DEFAULT '',
	provider          TEXT    NOT NULL DEFAULT '',
	upstream_model    TEXT    NOT NULL DEFAULT '',
	providers_tried   TEXT    NOT NULL DEFAULT '',
	status            INTEGER NOT NULL DEFAULT 0,
	stream            BOOLEAN NOT NULL DEFAULT FALSE,
	latency_ms        DOUBLE PRECISION NOT NULL DEFAULT 0,
	ttft_ms           DOUBLE PRECISION,
	overhead_ms       DOUBLE PRECISION NOT NULL DEFAULT 0,
	prompt_tokens     INTEGER NOT NULL DEFAULT 0,
	completion_tokens INTEGER NOT NULL DEFAULT 0,
	cached_tokens     INTEGER NOT NULL DEFAULT 0,
	tokens_estimated  BOOLEAN NOT NULL DEFAULT FALSE,
	cost_usd          DOUBLE PRECISION,
	attempts          INTEGER NOT NULL DEFAULT 0,
	error             TEXT    NOT NULL DEFAULT '',
	request_body      TEXT    NOT NULL DEFAULT '',
	response_body     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts);
CREATE INDEX IF NOT EXISTS requests_key_ts ON requests(key_id, ts);
CREATE INDEX IF NOT EXISTS requests_id ON requests(id);
