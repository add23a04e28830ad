package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// Response is one stored Responses API answer: what GET /v1/responses/{id},
// input_items and previous_response_id read back.
type Response struct {
	ID        string    // "resp_…"
	KeyID     string    // the key that created it; only that key can read or delete it
	CreatedAt time.Time // stored as unix ms
	Model     string    // as the client asked
	Provider  string    // the provider that answered
	Native    bool      // relayed to a provider that keeps the state itself
	Input     []byte    // JSON array of input items, history included
	Output    []byte    // the response object JSON as sent
}

const (
	putResponseHead = `INSERT INTO responses (id, key_id, created_at, model, provider, native, input, output) VALUES `
	putResponseRow  = `(?, ?, ?, ?, ?, ?, ?, ?)`
	putResponseTail = `
	ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, model = excluded.model,
		provider = excluded.provider, native = excluded.native, input = excluded.input, output = excluded.output
	WHERE responses.key_id = excluded.key_id AND responses.deleted_at = 0`
	putResponseSQL = putResponseHead + putResponseRow + putResponseTail
)

// putResponsesSQL[n] stores n responses in one statement, as n PutResponse calls in
// order would (SQLite applies the upsert row by row, so a later copy of an id sees the
// earlier one). The log writer keeps natively relayed Responses answers this way: one
// statement per answer was a heavier batch, on the core requests share.
var putResponsesSQL = func() [insertChunk + 1]string {
	var out [insertChunk + 1]string
	for n := 1; n <= insertChunk; n++ {
		out[n] = putResponseHead + strings.TrimSuffix(strings.Repeat(putResponseRow+", ", n), ", ") + putResponseTail
	}
	return out
}()

// args are the statement's arguments. Input and Output go in as strings over their
// bytes, not copies (a stored response is a few KB, on every Responses request): the
// driver copies them before the statement returns, and nothing changes a Response's
// bytes once it is built.
func (r *Response) args() []any { return r.appendArgs(make([]any, 0, 8)) }

func (r *Response) appendArgs(dst []any) []any {
	input := r.Input
	if len(input) == 0 {
		input = []byte("[]")
	}
	return append(dst, r.ID, r.KeyID, r.CreatedAt.UnixMilli(), r.Model, r.Provider, r.Native,
		unsafe.String(unsafe.SliceData(input), len(input)), unsafe.String(unsafe.SliceData(r.Output), len(r.Output)))
}

// PutResponse stores r, replacing an earlier row with the same id and key (a
// re-sent stream's final object); a row with the same id under another key, or one
// its key deleted, is left alone and reported as ErrDuplicate.
func (s *Store) PutResponse(ctx context.Context, r Response) error {
	res, err := s.db.ExecContext(ctx, putResponseSQL, r.args()...)
	if err != nil {
		return fmt.Errorf("store response %q: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrDuplicate
	}
	return nil
}

// ErrDeleted is GetResponse's answer for a response its key deleted: still "not
// found" to every reader (errors.Is(err, ErrNotFound)), and final for a continuation,
// which must not fall back on what else may know the id.
var ErrDeleted = fmt.Errorf("%w: deleted", ErrNotFound)

// GetResponse returns the response id stored by keyID; ErrDeleted when that key
// deleted it, ErrNotFound when there is none (including when another key stored it:
// keys never see each other's responses).
func (s *Store) GetResponse(ctx context.Context, keyID, id string) (Response, error) {
	r := Response{ID: id, KeyID: keyID}
	var created, deleted int64
	var input, output string
	err := s.db.QueryRowContext(ctx, `SELECT created_at, model, provider, native, input, output, deleted_at
		FROM responses WHERE id = ? AND key_id = ?`, id, keyID).
		Scan(&created, &r.Model, &r.Provider, &r.Native, &input, &output, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return Response{}, ErrNotFound
	}
	if err != nil {
		return Response{}, fmt.Errorf("read response %q: %w", id, err)
	}
	if deleted != 0 {
		return Response{}, ErrDeleted
	}
	r.CreatedAt = time.UnixMilli(created).UTC()
	r.Input, r.Output = []byte(input), []byte(output)
	return r, nil
}

// DeleteResponse deletes the response id stored by keyID: its row becomes a
// tombstone (deleted_at set, input and output emptied) that a later copy of the same
// answer cannot overwrite. A response not written yet (a native answer's copy still
// queued with its log row) gets its tombstone first; provider and native say where
// it was answered. ErrNotFound when the id is another key's or already deleted.
func (s *Store) DeleteResponse(ctx context.Context, keyID, id, provider string, native bool) error {
	now := time.Now().UnixMilli()
	res, err := s.db.ExecContext(ctx, `INSERT INTO responses (id, key_id, created_at, provider, native, deleted_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET deleted_at = excluded.deleted_at, input = '[]', output = ''
		WHERE responses.key_id = excluded.key_id AND responses.deleted_at = 0`, id, keyID, now, provider, native, now)
	if err != nil {
		return fmt.Errorf("delete response %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete response %q: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Shared reports whether the store is one several gateway replicas share
// (PostgreSQL): then a row another replica is about to write may not be here yet.
func (s *Store) Shared() bool { return s.db.pg }

// PruneResponses deletes responses created before the given time and returns how
// many, in chunks of short transactions like PruneRequests.
func (s *Store) PruneResponses(ctx context.Context, before time.Time) (int64, error) {
	// Rows carry whole conversations: smaller chunks than the log's.
	return s.pruneChunks(ctx, "responses", `DELETE FROM responses WHERE id IN
		(SELECT id FROM responses WHERE created_at < ? ORDER BY created_at LIMIT ?)`, before, 1000)
}
