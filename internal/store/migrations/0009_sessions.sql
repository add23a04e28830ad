-- The coding agent behind each request and its version, from the User-Agent
-- (claude-code 2.0.76, codex 0.63.0, gemini-cli 0.34.0, opencode 1.0.5; another
-- client's first product token), so `runestone sessions` can name a session's agent.
-- Older rows keep ''.
ALTER TABLE requests ADD COLUMN agent TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN agent_version TEXT NOT NULL DEFAULT '';
