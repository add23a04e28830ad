package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func intp(n int) *int { return &n }

func TestCreateKeyStoresOnlyHash(t *testing.T) { forEachDriver(t, testCreateKeyStoresOnlyHash) }

func testCreateKeyStoresOnlyHash(t *testing.T, s *Store) {
	ctx := context.Background()
	budget := 12.5
	exp := time.Now().Add(720 * time.Hour)
	k, secret, err := s.CreateKey(ctx, NewKey{
		Name: " dev ", Project: "web", RPM: intp(60), TPM: intp(0),
		Models: []string{"gpt-4o-mini", " ", "mock"}, BudgetUSD: &budget, ExpiresAt: exp,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "sk-rs-") || len(secret) != len("sk-rs-")+40 {
		t.Fatalf("secret %q: want sk-rs- + 40 chars", secret)
	}
	for _, c := range secret[len("sk-rs-"):] {
		if !strings.ContainsRune(base62, c) {
			t.Fatalf("secret has non-base62 %q", c)
		}
	}
	if !strings.HasPrefix(k.ID, "key_") || len(k.ID) != 16 {
		t.Fatalf("id %q: want key_ + 12", k.ID)
	}
	if want := secret[:10] + "…" + secret[len(secret)-4:]; k.Masked != want {
		t.Fatalf("masked %q, want %q", k.Masked, want)
	}
	if k.Name != "dev" || k.Project != "web" || *k.RPM != 60 || k.RPH != nil || *k.TPM != 0 || k.Concurrent != nil {
		t.Fatalf("unexpected key %+v", k)
	}
	if fmt.Sprint(k.Models) != "[gpt-4o-mini mock]" {
		t.Fatalf("models %v", k.Models)
	}

	// The secret appears nowhere in the database file's key row.
	var n int
	q := "SELECT count(*) FROM keys WHERE instr(id||name||prefix||suffix||hex(hash), ?) > 0"
	if s.Driver() == DriverPostgres {
		q = "SELECT count(*) FROM keys WHERE strpos(id||name||prefix||suffix||encode(hash, 'hex'), ?) > 0"
	}
	if err := s.db.QueryRow(q, secret).Scan(&n); err != nil || n != 0 {
		t.Fatalf("secret stored in clear (%d, %v)", n, err)
	}

	got, err := s.KeyByHash(ctx, HashSecret(secret))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.Masked != k.Masked || *got.BudgetUSD != 12.5 || got.ExpiresAt == nil ||
		got.ExpiresAt.UnixMilli() != exp.UnixMilli() || got.Hash() != HashSecret(secret) {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := s.KeyByHash(ctx, HashSecret(secret+"x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
}

func TestKeyJSONNeverHasSecretOrHash(t *testing.T) { forEachDriver(t, testKeyJSONNeverHasSecretOrHash) }

func testKeyJSONNeverHasSecretOrHash(t *testing.T, s *Store) {
	k, secret, err := s.CreateKey(context.Background(), NewKey{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(k)
	h := HashSecret(secret)
	if strings.Contains(string(b), secret) || strings.Contains(strings.ToLower(string(b)), "hash") ||
		strings.Contains(string(b), fmt.Sprintf("%x", h[:4])) {
		t.Fatalf("json leaks: %s", b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, f := range []string{"id", "name", "project", "masked", "rpm", "rph", "tpm", "concurrent", "models",
		"budget_usd", "expires_at", "created_at", "last_used_at", "revoked_at"} {
		if _, ok := m[f]; !ok {
			t.Errorf("json lacks %q: %s", f, b)
		}
	}
	if m["rpm"] != nil || m["models"] == nil {
		t.Errorf("default limits must be null and models [] : %s", b)
	}
}

func TestCreateKeyValidation(t *testing.T) { forEachDriver(t, testCreateKeyValidation) }

func testCreateKeyValidation(t *testing.T, s *Store) {
	neg := -1.0
	for _, nk := range []NewKey{{Name: ""}, {Name: "  "}, {Name: "x", RPM: intp(-1)}, {Name: "x", Concurrent: intp(-5)}, {Name: "x", BudgetUSD: &neg}} {
		if _, _, err := s.CreateKey(context.Background(), nk); err == nil {
			t.Errorf("CreateKey(%+v) succeeded", nk)
		}
	}
}

func TestListGetRevoke(t *testing.T) { forEachDriver(t, testListGetRevoke) }

func testListGetRevoke(t *testing.T, s *Store) {
	ctx := context.Background()
	a, secretA, _ := s.CreateKey(ctx, NewKey{Name: "a"})
	b, _, _ := s.CreateKey(ctx, NewKey{Name: "b"})

	keys, err := s.ListKeys(ctx, false)
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %v %v", keys, err)
	}
	for _, q := range []string{a.ID, a.ID[:8], secretA, secretA[:10], a.Masked} {
		got, err := s.GetKey(ctx, q)
		if err != nil || got.ID != a.ID {
			t.Errorf("GetKey(%q) = %v, %v", q, got.ID, err)
		}
	}
	if _, err := s.GetKey(ctx, "key_"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("GetKey(key_) = %v, want ambiguous", err)
	}
	for _, q := range []string{"", "key_nope", "sk-rs-zzzz", "key%", "key__"} {
		if _, err := s.GetKey(ctx, q); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetKey(%q) = %v, want not found", q, err)
		}
	}

	v0, _ := s.KeysVersion(ctx)
	if err := s.RevokeKey(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	v1, _ := s.KeysVersion(ctx)
	if v1 == v0 {
		t.Fatal("revoke did not change KeysVersion")
	}
	got, _ := s.GetKey(ctx, a.ID)
	if got.RevokedAt == nil || got.Active(time.Now()) {
		t.Fatalf("not revoked: %+v", got)
	}
	first := *got.RevokedAt
	if err := s.RevokeKey(ctx, a.ID); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	got, _ = s.GetKey(ctx, a.ID)
	if !got.RevokedAt.Equal(first) {
		t.Fatal("second revoke moved revoked_at")
	}
	if err := s.RevokeKey(ctx, "key_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	keys, _ = s.ListKeys(ctx, false)
	if len(keys) != 1 || keys[0].ID != b.ID {
		t.Fatalf("active list = %v", keys)
	}
	keys, _ = s.ListKeys(ctx, true)
	if len(keys) != 2 {
		t.Fatalf("all list = %v", keys)
	}
}

func TestTouchKeysDoesNotBumpVersion(t *testing.T) { forEachDriver(t, testTouchKeysDoesNotBumpVersion) }

func testTouchKeysDoesNotBumpVersion(t *testing.T, s *Store) {
	ctx := context.Background()
	a, _, _ := s.CreateKey(ctx, NewKey{Name: "a"})
	v0, _ := s.KeysVersion(ctx)
	t1 := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := s.TouchKeys(ctx, map[string]time.Time{a.ID: t1, "key_unknown": t1}); err != nil {
		t.Fatal(err)
	}
	// An older time never moves last_used backwards.
	if err := s.TouchKeys(ctx, map[string]time.Time{a.ID: t1.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetKey(ctx, a.ID)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t1) {
		t.Fatalf("last used = %v, want %v", got.LastUsedAt, t1)
	}
	if v1, _ := s.KeysVersion(ctx); v1 != v0 {
		t.Fatalf("touch bumped keys version %d -> %d", v0, v1)
	}
}

// TestConcurrentWritersTwoStores plays a gateway and a CLI on one file: two *Store
// (as two processes would have), goroutines creating, revoking and touching keys at
// once. busy_timeout plus immediate transactions must keep "database is locked" away.
func TestConcurrentWritersTwoStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	ctx := context.Background()
	gw, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	cli, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	seed, _, err := gw.CreateKey(ctx, NewKey{Name: "seed"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for w := range 4 {
		wg.Add(2)
		go func() { // CLI: create and revoke
			defer wg.Done()
			for i := range 15 {
				k, _, err := cli.CreateKey(ctx, NewKey{Name: fmt.Sprintf("cli-%d-%d", w, i)})
				if err != nil {
					fail(err)
					return
				}
				if i%3 == 0 {
					if err := cli.RevokeKey(ctx, k.ID); err != nil {
						fail(err)
					}
				}
			}
		}()
		go func() { // gateway: touch and poll
			defer wg.Done()
			for i := range 30 {
				if err := gw.TouchKeys(ctx, map[string]time.Time{seed.ID: time.Now().Add(time.Duration(i) * time.Millisecond)}); err != nil {
					fail(err)
					return
				}
				if _, err := gw.ListKeys(ctx, true); err != nil {
					fail(err)
				}
				if _, err := gw.KeysVersion(ctx); err != nil {
					fail(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	keys, err := gw.ListKeys(ctx, true)
	if err != nil || len(keys) != 1+4*15 {
		t.Fatalf("keys = %d, %v", len(keys), err)
	}
	if v, _ := gw.KeysVersion(ctx); v != int64(1+4*15+4*5) {
		t.Fatalf("keys version = %d, want %d", v, 1+4*15+4*5)
	}
}
