-- A deleted response leaves a tombstone: its row stays with deleted_at set (unix ms)
-- and its input and output emptied, so that neither a previous_response_id naming it
-- nor a late copy of a natively relayed answer (written with its request-log row,
-- after the client may already have deleted it) brings it back. Tombstones are pruned
-- with the log's retention like every other row.
ALTER TABLE responses ADD COLUMN deleted_at INTEGER NOT NULL DEFAULT 0;
