package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The Postgres half of every store test needs a server: RUNESTONE_TEST_POSTGRES_DSN
// (e.g. postgres://postgres@127.0.0.1:5439/runestone_test?sslmode=disable; see
// scripts/scaleout-services.sh). Without it those subtests skip, unless
// RUNESTONE_REQUIRE_SCALEOUT=1 (CI), which makes them fail instead.

// forEachDriver runs fn once per driver against a fresh, empty store.
func forEachDriver(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Run(DriverSQLite, func(t *testing.T) { fn(t, openTemp(t)) })
	t.Run(DriverPostgres, func(t *testing.T) { fn(t, openTempPostgres(t)) })
}

// postgresDSN returns the test server's DSN, or skips (fails under CI) without one.
func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("RUNESTONE_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("RUNESTONE_REQUIRE_SCALEOUT") != "" {
			t.Fatal("RUNESTONE_REQUIRE_SCALEOUT is set but RUNESTONE_TEST_POSTGRES_DSN is not: start Postgres (scripts/scaleout-services.sh)")
		}
		t.Skip("Postgres test skipped: set RUNESTONE_TEST_POSTGRES_DSN (source scripts/scaleout-services.sh) to run it")
	}
	return dsn
}

// openTempPostgres opens a store in a fresh schema of the test database, dropped at
// test end, so tests never see each other's rows.
func openTempPostgres(t testing.TB) *Store {
	t.Helper()
	dsn := postgresDSN(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "rs_test_" + hex.EncodeToString(b)
	admin, err := OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.db.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	s, err := OpenPostgres(context.Background(), dsn+sep+"search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		_, _ = admin.db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = admin.Close()
	})
	return s
}

func TestPostgresConcurrentOpenMigratesOnce(t *testing.T) {
	s := openTempPostgres(t) // a fresh schema; now race three more opens on it
	dsn := postgresDSN(t)
	var schema string
	if err := s.db.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(context.Background(), "DROP TABLE keys, keys_version, requests, meta, schema_migrations"); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			o, err := OpenConfig(context.Background(), Config{Driver: DriverPostgres, DSN: dsn + sep + "search_path=" + schema})
			if err == nil {
				err = o.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if ms, _ := loadMigrationsFrom("migrations/postgres"); n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
}
