-- PostgreSQL dialect of ../0008_response_tombstones.sql.
ALTER TABLE responses ADD COLUMN IF NOT EXISTS deleted_at BIGINT NOT NULL DEFAULT 0;
