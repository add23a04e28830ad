package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

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
	tx *sql.Tx
	pg bool
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
