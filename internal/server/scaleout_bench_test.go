package server_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/store"
)

// BenchmarkReplicaRate is the request rate one replica holds (mock provider, a key with
// generous limits, parallel clients) with each backend, side by side:
//
//	source scripts/scaleout-services.sh
//	go test -run '^$' -bench ReplicaRate -benchtime 3s ./internal/server
func BenchmarkReplicaRate(b *testing.B) {
	dsn, redisURL := os.Getenv("RUNESTONE_TEST_POSTGRES_DSN"), os.Getenv("RUNESTONE_TEST_REDIS_URL")
	for _, bc := range []struct {
		name           string
		store, backend string
	}{
		{"sqlite+memory", config.StoreSQLite, config.LimitsMemory},
		{"sqlite+redis", config.StoreSQLite, config.LimitsRedis},
		{"postgres+redis", config.StorePostgres, config.LimitsRedis},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if (bc.store == config.StorePostgres && dsn == "") || (bc.backend == config.LimitsRedis && redisURL == "") {
				b.Skip("needs RUNESTONE_TEST_POSTGRES_DSN / RUNESTONE_TEST_REDIS_URL")
			}
			home := b.TempDir()
			cfg, err := config.Load(config.Options{Home: home, Addr: "127.0.0.1:0", Getenv: func(string) string { return "" }})
			if err != nil {
				b.Fatal(err)
			}
			if bc.store == config.StorePostgres {
				schema := "rs_bench_" + randHex()
				db, err := sql.Open("pgx", dsn)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
					b.Fatal(err)
				}
				defer db.Exec("DROP SCHEMA " + schema + " CASCADE") //nolint:errcheck
				sep := "?"
				if strings.Contains(dsn, "?") {
					sep = "&"
				}
				cfg.Store = config.Store{Driver: config.StorePostgres, DSN: dsn + sep + "search_path=" + schema}
			}
			cfg.Limits.Backend, cfg.Limits.RedisURL, cfg.Limits.RedisPrefix = bc.backend, redisURL, "rsbench:"+randHex()+":"
			st, err := store.OpenConfig(context.Background(), store.Config{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN,
				Path: home + "/" + store.FileName})
			if err != nil {
				b.Fatal(err)
			}
			_, secret, err := st.CreateKey(context.Background(), store.NewKey{Name: "bench", RPM: intp(1 << 30),
				RPH: intp(1 << 30), Concurrent: intp(1 << 20)})
			_ = st.Close()
			if err != nil {
				b.Fatal(err)
			}
			srv, err := server.New(context.Background(), cfg, server.Options{Version: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			url := "http://" + srv.Addr()
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if code, body := scaleChat(url, secret, "mock", nil); code != 200 {
						b.Errorf("status %d: %s", code, body)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
