-- PostgreSQL dialect of ../0004_responses.sql (BIGINT time, BOOLEAN native).
CREATE TABLE IF NOT EXISTS responses (
	id         TEXT    PRIMARY KEY,
	key_id     TEXT    NOT NULL DEFAULT '',
	created_at BIGINT  NOT NULL,
	model      TEXT    NOT NULL DEFAULT '',
	provider   TEXT    NOT NULL DEFAULT '',
	native     BOOLEAN NOT NULL DEFAULT FALSE,
	input      TEXT    NOT NULL DEFAULT '[]',
	output     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS responses_created ON responses(created_at);
