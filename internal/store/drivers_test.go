package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
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
	if _, err := s.db.ExecContext(context.Background(), "DROP TABLE keys, keys_version, requests, spend, meta, schema_migrations"); err != nil {
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

// BenchmarkInsertRequests writes the request log in batches of 512, as the gateway's
// writer does, on each driver.
func BenchmarkInsertRequests(b *testing.B) {
	for _, drv := range []string{DriverSQLite, DriverPostgres} {
		b.Run(drv, func(b *testing.B) {
			var s *Store
			if drv == DriverSQLite {
				s = openTemp(b)
			} else {
				if os.Getenv("RUNESTONE_TEST_POSTGRES_DSN") == "" {
					b.Skip("needs RUNESTONE_TEST_POSTGRES_DSN")
				}
				s = openTempPostgres(b)
			}
			rows := make([]RequestRow, 512)
			for i := range rows {
				rows[i] = RequestRow{ID: "req", KeyID: "key_x", Model: "gpt-4o-mini", Provider: "openai", Status: 200,
					PromptTokens: 10, CompletionTokens: 20, ProvidersTried: []string{"openai"}}
			}
			b.ResetTimer()
			for range b.N {
				if err := s.InsertRequests(context.Background(), rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func TestInsertLargeBatch(t *testing.T) { forEachDriver(t, testInsertLargeBatch) }

func testInsertLargeBatch(t *testing.T, s *Store) {
	rows := make([]RequestRow, 300) // several statements of either dialect's size
	for i := range rows {
		rows[i] = RequestRow{ID: "r" + strconv.Itoa(i), Status: 200}
	}
	if err := s.InsertRequests(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRequests(context.Background(), RequestFilter{})
	if err != nil || len(got) != 300 || got[0].ID != "r299" || got[299].ID != "r0" {
		t.Fatalf("%d rows, %v", len(got), err)
	}
}

func TestPostgresListenKeys(t *testing.T) {
	s := openTempPostgres(t)
	changed, stop := s.ListenKeys(context.Background())
	defer stop()
	select { // the listener reports once when it starts
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("listener did not start")
	}
	if _, _, err := s.CreateKey(context.Background(), NewKey{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(2 * time.Second):
		t.Fatal("no notification for a new key")
	}
}

func TestSQLiteListenKeysIsNil(t *testing.T) {
	changed, stop := openTemp(t).ListenKeys(context.Background())
	stop()
	if changed != nil {
		t.Fatal("SQLite has no change notifications")
	}
}
