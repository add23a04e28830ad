package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Config chooses the store's backend. Driver "" or "sqlite" opens Path; "postgres"
// connects to DSN (a postgres:// URL or key=value string; DATABASE_URL when empty).
type Config struct {
	Driver string
	DSN    string
	Path   string
}

// OpenConfig opens the configured backend and applies migrations.
func OpenConfig(ctx context.Context, c Config) (*Store, error) {
	switch strings.ToLower(c.Driver) {
	case "", DriverSQLite:
		return Open(ctx, c.Path)
	case DriverPostgres:
		dsn := c.DSN
		if dsn == "" {
			dsn = os.Getenv("DATABASE_URL")
		}
		return OpenPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("unknown store driver %q: want sqlite or postgres", c.Driver)
}

// OpenPostgres connects to a shared PostgreSQL database and applies migrations. Several
// gateway replicas and CLI commands may do this at once: migrations run under an
// advisory lock, so each applies exactly once.
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, fmt.Errorf("store driver postgres needs a dsn (store.dsn or DATABASE_URL)")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: conn{db: db, pg: true}, path: redactDSN(dsn)}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to postgres at %s: %w", s.path, err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// redactDSN hides a password in a DSN for messages and Path.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if user, _, ok := strings.Cut(rest[:at], ":"); ok {
				return dsn[:i+3] + user + ":***" + rest[at:]
			}
		}
	}
	return dsn
}
