package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/config"
)

func TestNewCassettes(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	if rec, rp, err := newCassettes(cfg, nil); rec != nil || rp != nil || err != nil {
		t.Fatalf("nothing configured: %v %v %v", rec, rp, err)
	}
	cfg.Replay.Dir = filepath.Join(dir, "missing")
	if _, rp, err := newCassettes(cfg, nil); err != nil || rp.Len() != 0 {
		t.Fatalf("non-strict replay of a folder not made yet: %v", err)
	}
	cfg.Replay.Strict = true
	cfg.Replay.Dir = filepath.Join(dir, "missing-too")
	if _, _, err := newCassettes(cfg, nil); err == nil {
		t.Fatal("strict replay of a missing folder started")
	}
	cfg.Replay.Strict = false
	cfg.Replay.Dir = dir
	rec, rp, err := newCassettes(cfg, nil)
	if err != nil || rp == nil || rec == nil || rec.Dir() != dir {
		t.Fatalf("non-strict replay records its misses into the replay folder: %v %v %v", rec, rp, err)
	}
	cfg.Replay.Strict = true
	if rec, rp, err = newCassettes(cfg, nil); err != nil || rp == nil || rec != nil || !rp.Strict() {
		t.Fatalf("strict replay records nothing: %v %v %v", rec, rp, err)
	}
	other := filepath.Join(t.TempDir(), "new")
	cfg.Record.Dir = other
	if rec, _, _ = newCassettes(cfg, nil); rec == nil || rec.Dir() != other {
		t.Fatalf("record.dir wins: %v", rec)
	}
	cfg.Replay.MatchIgnore = []string{"a..b"}
	if _, _, err = newCassettes(cfg, nil); err == nil || !strings.Contains(err.Error(), "a..b") {
		t.Errorf("bad ignore path: %v", err)
	}
	cfg.Replay.MatchIgnore = nil
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err = newCassettes(cfg, nil); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("broken cassette: %v", err)
	}
}
