-- Dialects on the request log: the API the client spoke (chat, messages, responses,
-- completions, embeddings), the API spoken to the provider, the client's session id
-- (Claude Code's X-Claude-Code-Session-Id, Codex's session_id), prompt tokens written
-- to a cache (part of prompt_tokens, like cached_tokens), and the comma list of request
-- fields a translation dropped. Rows logged before this migration keep '' and 0.
ALTER TABLE requests ADD COLUMN dialect TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN upstream_dialect TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN dropped TEXT NOT NULL DEFAULT '';
-- `logs --session` reads one session's rows; most rows have none, so the index skips them.
CREATE INDEX IF NOT EXISTS requests_session ON requests(session_id, ts) WHERE session_id != '';
