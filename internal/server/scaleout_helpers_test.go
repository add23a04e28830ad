package server_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the test creates a schema per test

	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/server"
	"github.com/jmanhype/runestone/internal/store"
)

// Scale-out tests need a PostgreSQL and a Redis: RUNESTONE_TEST_POSTGRES_DSN and
// RUNESTONE_TEST_REDIS_URL (scripts/scaleout-services.sh starts both). Without them
// the tests skip, unless RUNESTONE_REQUIRE_SCALEOUT=1 (CI), which makes them fail.
func scaleoutEnv(t *testing.T) (dsn, redisURL string) {
	t.Helper()
	dsn, redisURL = os.Getenv("RUNESTONE_TEST_POSTGRES_DSN"), os.Getenv("RUNESTONE_TEST_REDIS_URL")
	if dsn == "" || redisURL == "" {
		if os.Getenv("RUNESTONE_REQUIRE_SCALEOUT") != "" {
			t.Fatal("RUNESTONE_REQUIRE_SCALEOUT is set but RUNESTONE_TEST_POSTGRES_DSN or RUNESTONE_TEST_REDIS_URL is not: start them with scripts/scaleout-services.sh")
		}
		t.Skip("scale-out test skipped: set RUNESTONE_TEST_POSTGRES_DSN and RUNESTONE_TEST_REDIS_URL (source scripts/scaleout-services.sh)")
	}
	return dsn, redisURL
}

func randHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cluster is one shared Postgres schema and Redis namespace, for several replicas.
type cluster struct {
	t        *testing.T
	dsn      string // with search_path set to this test's schema
	redisURL string
	prefix   string
	toml     string
	mod      func(*config.Config)
	clock    func() time.Time // replicas' clock (server.Options.Now); nil = the wall clock
}

func newCluster(t *testing.T, toml string, mod func(*config.Config)) *cluster {
	t.Helper()
	base, redisURL := scaleoutEnv(t)
	schema := "rs_it_" + randHex()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return &cluster{t: t, dsn: base + sep + "search_path=" + schema, redisURL: redisURL,
		prefix: "rsit:" + randHex() + ":", toml: toml, mod: mod}
}

// store opens the shared database (as a CLI command would), closed at test end.
func (c *cluster) store() *store.Store {
	c.t.Helper()
	s, err := store.OpenConfig(context.Background(), store.Config{Driver: store.DriverPostgres, DSN: c.dsn})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = s.Close() })
	return s
}

// replica starts one gateway on the shared backends; log receives its process log.
func (c *cluster) replica(log io.Writer) *gw {
	t := c.t
	t.Helper()
	home := t.TempDir()
	if c.toml != "" {
		if err := os.WriteFile(home+"/"+config.FileName, []byte(c.toml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(config.Options{Home: home, Addr: "127.0.0.1:0", Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = config.Store{Driver: config.StorePostgres, DSN: c.dsn}
	cfg.Limits.Backend, cfg.Limits.RedisURL, cfg.Limits.RedisPrefix = config.LimitsRedis, c.redisURL, c.prefix
	if c.mod != nil {
		c.mod(cfg)
	}
	if log == nil {
		log = io.Discard
	}
	srv, err := server.New(context.Background(), cfg, server.Options{Version: "test", Logger: slog.New(slog.NewTextHandler(log, nil)), Now: c.clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &gw{t: t, URL: "http://" + srv.Addr(), Home: home, Srv: srv}
}

func (c *cluster) replicas(n int) []*gw {
	out := make([]*gw, n)
	for i := range out {
		out[i] = c.replica(nil)
	}
	return out
}

var scaleClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

// scaleChat sends one chat request with key and returns the status and body (safe from
// any goroutine; a transport error is status 0).
func scaleChat(url, key, model string, hdr map[string]string) (int, string) {
	req, _ := http.NewRequest("POST", url+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := scaleClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// scaleGet fetches url and returns the status and body (0 on a transport error).
func scaleGet(url string) (int, string) {
	resp, err := scaleClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
