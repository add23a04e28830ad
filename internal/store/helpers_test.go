package store

import (
	"context"
	"database/sql"
)

// Helpers only the tests need: kept out of the package's API so deadcode stays quiet
// and nothing outside the tests comes to depend on them.

func loadMigrations() ([]migration, error) { return loadMigrationsFrom("migrations") }

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v)
	return int(v.Int64), err
}

// IntegrityCheck runs PRAGMA integrity_check and returns its first line ("ok").
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	if s.db.pg {
		return "ok", s.db.db.PingContext(ctx)
	}
	var res string
	err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res)
	return res, err
}

// QueryRow is QueryRowContext without a context, for one-line test queries.
func (c conn) QueryRow(q string, args ...any) *sql.Row {
	return c.QueryRowContext(context.Background(), q, args...)
}

// Driver is the dialect this store speaks: DriverSQLite or DriverPostgres.
func (s *Store) Driver() string {
	if s.db.pg {
		return DriverPostgres
	}
	return DriverSQLite
}
