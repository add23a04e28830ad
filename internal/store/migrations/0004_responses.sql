-- Responses the gateway served on /v1/responses (store not false), so that
-- previous_response_id, GET/DELETE /v1/responses/{id} and input_items work in front of
-- providers that keep no conversation state. input is the JSON array of input items
-- (history included), output the full response object as sent. native is 1 when the
-- request was relayed to a provider that keeps the state itself. A key only ever sees
-- its own rows (every read filters on key_id). Pruned with the request log's retention.
CREATE TABLE IF NOT EXISTS responses (
	id         TEXT    PRIMARY KEY,
	key_id     TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,             -- unix ms
	model      TEXT    NOT NULL DEFAULT '',
	provider   TEXT    NOT NULL DEFAULT '',
	native     INTEGER NOT NULL DEFAULT 0,
	input      TEXT    NOT NULL DEFAULT '[]',
	output     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS responses_created ON responses(created_at);
