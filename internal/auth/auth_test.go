package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/limits"
	"github.com/jmanhype/runestone/internal/store"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var defaults = limits.Limits{RPM: 3500, RPH: 90000, TPM: 0, Concurrent: 10}

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), store.FileName)
	}
	s, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newAuth(t testing.TB, o Options) *Authenticator {
	t.Helper()
	if o.Defaults == (limits.Limits{}) {
		o.Defaults = defaults
	}
	a, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func createKey(t testing.TB, s *store.Store, nk store.NewKey) (store.Key, string) {
	t.Helper()
	k, secret, err := s.CreateKey(context.Background(), nk)
	if err != nil {
		t.Fatal(err)
	}
	return k, secret
}

func want401(t *testing.T, e *apierr.Error, contains string) {
	t.Helper()
	if e == nil {
		t.Fatalf("authenticated, want 401 %q", contains)
	}
	if e.Status != http.StatusUnauthorized || e.Code != apierr.CodeInvalidAPIKey || e.Type != apierr.TypeInvalidRequest {
		t.Fatalf("error %d %s/%s, want 401 invalid_request_error/invalid_api_key", e.Status, e.Type, e.Code)
	}
	if !strings.Contains(e.Message, contains) {
		t.Fatalf("message %q lacks %q", e.Message, contains)
	}
}

func intp(n int) *int { return &n }

func TestBearerParsing(t *testing.T) {
	s := openStore(t, "")
	_, secret := createKey(t, s, store.NewKey{Name: "dev"})
	a := newAuth(t, Options{Store: s})
	tests := []struct {
		name    string
		header  string
		wantMsg string // "" = accepted
	}{
		{"plain", "Bearer " + secret, ""},
		{"lower scheme", "bearer " + secret, ""},
		{"upper scheme, extra spaces", "BEARER    " + secret, ""},
		{"tab and surrounding space", "  Bearer\t" + secret + "  \t", ""},
		{"missing", "", "Missing API key"},
		{"only spaces", "   ", "Missing API key"},
		{"scheme only", "Bearer", "Missing API key"},
		{"scheme and spaces", "Bearer    ", "Missing API key"},
		{"no scheme", secret, "Bearer scheme"},
		{"basic", "Basic dXNlcjpwYXNz", "Bearer scheme"},
		{"bearerX", "BearerX " + secret, "Bearer scheme"},
		{"space inside", "Bearer " + secret[:10] + " " + secret[10:], "whitespace or control"},
		{"tab inside", "Bearer " + secret[:10] + "\t" + secret[10:], "whitespace or control"},
		{"nul inside", "Bearer " + secret[:10] + "\x00" + secret[10:], "whitespace or control"},
		{"del inside", "Bearer " + secret + "\x7f", "whitespace or control"},
		{"unknown", "Bearer sk-rs-" + strings.Repeat("x", 40), "Incorrect API key provided: sk-rs-xxxx…xxxx"},
		{"short unknown", "Bearer abc", "Incorrect API key provided: ***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, e := a.Authenticate(tt.header)
			if tt.wantMsg == "" {
				if e != nil || p == nil || p.Name != "dev" {
					t.Fatalf("Authenticate(%q) = %v, %v", tt.header, p, e)
				}
				return
			}
			want401(t, e, tt.wantMsg)
			if strings.Contains(e.Message, secret[10:]) {
				t.Fatalf("message echoes the key: %q", e.Message)
			}
		})
	}
}

func TestNoKeysHint(t *testing.T) {
	a := newAuth(t, Options{Store: openStore(t, "")})
	if a.HasKeys() {
		t.Fatal("HasKeys on an empty store")
	}
	for _, h := range []string{"", "Bearer sk-rs-whatever-it-is-1234"} {
		_, e := a.Authenticate(h)
		want401(t, e, "runestone keys create --name dev")
	}
	// A static key alone counts as a key.
	b := newAuth(t, Options{StaticKeys: []string{"sk-static-1"}})
	_, e := b.Authenticate("")
	want401(t, e, "Missing API key.")
}

func TestEffectiveLimitsAndFields(t *testing.T) {
	s := openStore(t, "")
	budget := 5.0
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	k, secret := createKey(t, s, store.NewKey{Name: "svc", Project: "web", RPM: intp(60), TPM: intp(0),
		Models: []string{"gpt-4o*", "mock"}, BudgetUSD: &budget, ExpiresAt: exp})
	a := newAuth(t, Options{Store: s})
	p, e := a.Authenticate("Bearer " + secret)
	if e != nil {
		t.Fatal(e)
	}
	want := limits.Limits{RPM: 60, RPH: defaults.RPH, TPM: 0, Concurrent: defaults.Concurrent}
	if p.KeyID != k.ID || p.Name != "svc" || p.Project != "web" || p.Static || p.Limits != want ||
		*p.BudgetUSD != 5 || !p.ExpiresAt.Equal(exp) {
		t.Fatalf("principal %+v, limits want %+v", p, want)
	}
	for model, ok := range map[string]bool{"gpt-4o": true, "gpt-4o-mini": true, "mock": true, "mock-2": false, "gpt-4": false} {
		if p.Allows(model) != ok {
			t.Errorf("Allows(%q) = %v", model, !ok)
		}
	}
	if !(&Principal{}).Allows("anything") {
		t.Error("empty allow-list must allow every model")
	}
}

func TestStaticKeys(t *testing.T) {
	a := newAuth(t, Options{StaticKeys: []string{" sk-one ", "sk-two", "", "sk-one"}})
	p, e := a.Authenticate("Bearer sk-two")
	if e != nil {
		t.Fatal(e)
	}
	h := sha256.Sum256([]byte("sk-two"))
	if p.KeyID != "static:"+hex.EncodeToString(h[:])[:8] || p.Name != "static" || !p.Static || p.Limits != defaults {
		t.Fatalf("static principal %+v", p)
	}
	if p, e := a.Authenticate("Bearer sk-one"); e != nil || p.KeyID == "" {
		t.Fatalf("trimmed static key: %v %v", p, e)
	}
	_, e = a.Authenticate("Bearer sk-three")
	want401(t, e, "Incorrect API key")
	if got := len(a.Principals()); got != 2 {
		t.Fatalf("%d principals, want 2 (duplicates and blanks dropped)", got)
	}
}

func TestExpiredAndRevoked(t *testing.T) {
	s := openStore(t, "")
	now := time.Now()
	clock := now
	var mu sync.Mutex
	_, expSecret := createKey(t, s, store.NewKey{Name: "temp", ExpiresAt: now.Add(time.Hour)})
	rk, revSecret := createKey(t, s, store.NewKey{Name: "old"})
	_, liveSecret := createKey(t, s, store.NewKey{Name: "live"})
	if err := s.RevokeKey(context.Background(), rk.ID); err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, Options{Store: s, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	if _, e := a.Authenticate("Bearer " + expSecret); e != nil {
		t.Fatalf("not yet expired: %v", e)
	}
	_, e := a.Authenticate("Bearer " + revSecret)
	want401(t, e, "was revoked")
	if n := len(a.Principals()); n != 2 {
		t.Fatalf("%d principals, want 2 (revoked excluded)", n)
	}
	mu.Lock()
	clock = now.Add(2 * time.Hour)
	mu.Unlock()
	_, e = a.Authenticate("Bearer " + expSecret)
	want401(t, e, "expired")
	if ps := a.Principals(); len(ps) != 1 || ps[0].Name != "live" {
		t.Fatalf("principals %v, want only live", ps)
	}
	if _, e := a.Authenticate("Bearer " + liveSecret); e != nil {
		t.Fatal(e)
	}
}

// Unknown keys are answered from memory: with the database closed under it, the
// authenticator still tells known from unknown keys (a query would fail).
func TestUnknownKeysNeverHitSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	s, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	_, secret := createKey(t, s, store.NewKey{Name: "dev"})
	a := newAuth(t, Options{Store: s, Poll: time.Hour})
	_ = s.Close()
	for range 100 {
		_, e := a.Authenticate("Bearer sk-rs-" + strings.Repeat("q", 40))
		want401(t, e, "Incorrect API key")
	}
	if _, e := a.Authenticate("Bearer " + secret); e != nil {
		t.Fatal(e)
	}
}

// Another process (a second *Store on the same file) creates and revokes keys while
// the authenticator runs with its default poll: both apply within a second.
func TestChangesFromAnotherProcessApplyWithinASecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	gw := openStore(t, path)
	cli := openStore(t, path)
	a := newAuth(t, Options{Store: gw})

	k, secret := createKey(t, cli, store.NewKey{Name: "new"})
	start := time.Now()
	waitFor(t, func() bool { _, e := a.Authenticate("Bearer " + secret); return e == nil })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("new key accepted after %v", d)
	}
	if err := cli.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, func() bool { _, e := a.Authenticate("Bearer " + secret); return e != nil })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("revocation applied after %v", d)
	}
	_, e := a.Authenticate("Bearer " + secret)
	want401(t, e, "revoked")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 3s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLastUsedFlushedInBatch(t *testing.T) {
	s := openStore(t, "")
	k1, s1 := createKey(t, s, store.NewKey{Name: "a"})
	k2, _ := createKey(t, s, store.NewKey{Name: "b"})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a, err := New(context.Background(), Options{Store: s, Poll: time.Hour, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	v0, _ := s.KeysVersion(context.Background())
	for range 10 {
		if _, e := a.Authenticate("Bearer " + s1); e != nil {
			t.Fatal(e)
		}
	}
	a.Close() // final flush
	got, _ := s.GetKey(context.Background(), k1.ID)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Fatalf("last used = %v, want %v", got.LastUsedAt, at)
	}
	if got, _ := s.GetKey(context.Background(), k2.ID); got.LastUsedAt != nil {
		t.Fatalf("unused key touched: %v", got.LastUsedAt)
	}
	if v1, _ := s.KeysVersion(context.Background()); v1 != v0 {
		t.Fatal("flushing last-used made every gateway reload its keys")
	}
}

func TestRefreshKeepsLastUsedAcrossReload(t *testing.T) {
	s := openStore(t, "")
	k1, s1 := createKey(t, s, store.NewKey{Name: "a"})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := newAuth(t, Options{Store: s, Poll: time.Hour, Now: func() time.Time { return at }})
	if _, e := a.Authenticate("Bearer " + s1); e != nil {
		t.Fatal(e)
	}
	createKey(t, s, store.NewKey{Name: "b"}) // forces a reload
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(a.Principals()); n != 2 {
		t.Fatalf("%d principals after refresh", n)
	}
	a.Close()
	if got, _ := s.GetKey(context.Background(), k1.ID); got.LastUsedAt == nil {
		t.Fatal("last-used recorded before the reload was lost")
	}
}

func benchAuth(b *testing.B) (*Authenticator, string) {
	s := openStore(b, "")
	for i := range 1000 {
		createKey(b, s, store.NewKey{Name: "k" + string(rune('a'+i%26))})
	}
	_, secret := createKey(b, s, store.NewKey{Name: "bench"})
	// Limits high enough that the combined benchmark never hits a 429.
	big := limits.Limits{RPM: 1 << 30, RPH: 1 << 30, TPM: 1 << 30, Concurrent: 64}
	a := newAuth(b, Options{Store: s, StaticKeys: []string{"sk-static"}, Defaults: big})
	return a, "Bearer " + secret
}

func BenchmarkAuthenticate(b *testing.B) {
	a, h := benchAuth(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, e := a.Authenticate(h); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkAuthenticateParallel(b *testing.B) {
	a, h := benchAuth(b)
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 goroutines
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, e := a.Authenticate(h); e != nil {
				b.Error(e)
				return
			}
		}
	})
}

// BenchmarkAuthenticateAndLimit is the per-request cost of both gates together.
func BenchmarkAuthenticateAndLimit(b *testing.B) {
	a, h := benchAuth(b)
	l := limits.New(limits.Options{Queue: 100, QueueTimeout: time.Second})
	defer l.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, e := a.Authenticate(h)
		if e != nil {
			b.Fatal(e)
		}
		tk, err := l.Acquire(ctx, p.KeyID, p.Name, p.Limits)
		if err != nil {
			b.Fatal(err)
		}
		tk.Release(10)
	}
}

// The poller outlives the context New was given: the server's signal context ends at
// Ctrl-C, before in-flight requests drain, and keys must keep reloading until Close.
func TestPollOutlivesNewContext(t *testing.T) {
	s := openStore(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, Options{Store: s, Poll: time.Millisecond, Defaults: defaults})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cancel()
	_, secret := createKey(t, s, store.NewKey{Name: "late"})
	// Waits for the poll, bounded only so a broken poller fails instead of hanging.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, e := a.Authenticate("Bearer " + secret); e == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a key created after New's context ended was never loaded")
		}
	}
}
