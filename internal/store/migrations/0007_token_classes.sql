-- Every token class on the request log, and the model that answered: the model the
-- provider's answer names (answered_model; model is what the client asked for and
-- upstream_model what the router chose), reasoning tokens (part of completion_tokens),
-- 1-hour cache writes (part of cache_write_tokens), Anthropic compaction iterations
-- (input plus output, billed on top of prompt and completion), server-side web
-- searches and the service tier the answer ran on. Older rows keep '' and 0.
ALTER TABLE requests ADD COLUMN answered_model TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN compaction_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN web_search_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN service_tier TEXT NOT NULL DEFAULT '';
