package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// Drivers the store speaks.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// conn runs SQL written with "?" placeholders on either dialect: for Postgres it
// rewrites them to $1, $2, … (no query in this package has a "?" inside a literal).
type conn struct {
	db *sql.DB
	pg bool
}

func rebind(pg bool, q string) string {
	if !pg || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (c conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, rebind(c.pg, q), args...)
}

func (c conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, rebind(c.pg, q), args...)
}

func (c conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, rebind(c.pg, q), args...)
}

// Close closes the pool.
func (c conn) Close() error { return c.db.Close() }

// Tx is a write transaction with the same placeholder rewriting.
type Tx struct {
	tx    *sql.Tx
	pg    bool
	db    *sql.DB
	stmts *stmtCache
}

// execCached runs q through a statement prepared once per store. Parsing is most
// of a short statement's cost in the pure-Go SQLite, and the request log runs a
// few fixed statements per batch; pgx caches prepared statements on its own.
func (t *Tx) execCached(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.cached(ctx, q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.ExecContext(ctx, q, args...)
}

// queryRowCached is QueryRowContext through a statement prepared once per store.
func (t *Tx) queryRowCached(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.cached(ctx, q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.QueryRowContext(ctx, q, args...)
}

func (t *Tx) cached(ctx context.Context, q string) *sql.Stmt {
	if t.pg || t.stmts == nil {
		return nil
	}
	return t.stmts.get(ctx, t.db, q)
}

// stmtCache holds prepared statements by their SQL text. Only fixed statements go
// in (never text built from data), so it stays a handful of entries. database/sql
// keeps each one prepared on every connection it has run on.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

// get returns the statement for q, or nil when it cannot be prepared (the caller
// then runs the SQL text, which reports the error).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if st := c.m[q]; st != nil {
		return st
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}

// ExecContext runs a statement in the transaction.
func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, rebind(t.pg, q), args...)
}

// QueryRowContext runs a one-row query in the transaction.
func (t *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, rebind(t.pg, q), args...)
}

// PrepareContext prepares a statement in the transaction.
func (t *Tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, rebind(t.pg, q))
}

// pgTextArgs makes the string arguments storable as Postgres text, in place: it
// refuses NUL and invalid UTF-8, which log rows can carry (captured bodies, upstream
// errors), and a refused row would fail its whole batch, which is retried and holds
// every row behind it. Those bytes become U+FFFD; SQLite keeps them as they were.
func pgTextArgs(args []any) {
	for i, a := range args {
		s, ok := a.(string)
		if !ok || (utf8.ValidString(s) && strings.IndexByte(s, 0) < 0) {
			continue
		}
		args[i] = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
}

// isUniqueViolation reports a duplicate key on either dialect.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return strings.Contains(err.Error(), "constraint failed")
}

// keyOrder orders keys by creation, ties in insertion order (SQLite) or id (Postgres).
func (s *Store) keyOrder() string {
	if s.db.pg {
		return "ORDER BY created_at, id"
	}
	return "ORDER BY created_at, rowid"
}
