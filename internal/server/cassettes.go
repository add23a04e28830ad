package server

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/jmanhype/runestone/internal/cassette"
	"github.com/jmanhype/runestone/internal/config"
)

// newCassettes builds the Recorder and Replayer the configuration asks for. A
// non-strict replay records its misses into the replay folder (record-on-miss) unless
// record.dir names another.
func newCassettes(cfg *config.Config, logger *slog.Logger) (*cassette.Recorder, *cassette.Replayer, error) {
	var rec *cassette.Recorder
	var rep *cassette.Replayer
	var err error
	secrets := cfg.Secrets()
	norm := make([]cassette.NormalizeRule, 0, len(cfg.Replay.Normalize))
	for _, r := range cfg.Replay.Normalize {
		norm = append(norm, cassette.NormalizeRule{Pattern: r.Pattern, Replace: r.Replace})
	}
	if d := cfg.Replay.Dir; d != "" {
		if !cfg.Replay.Strict {
			// Record-on-miss may start from nothing: the first run fills the folder.
			mode := os.FileMode(0o700)
			if cfg.Record.UseUmask {
				mode = 0o777
			}
			if err := os.MkdirAll(d, mode); err != nil {
				return nil, nil, fmt.Errorf("create cassette folder: %w", err)
			}
		}
		rep, err = cassette.OpenReplayer(d, cassette.ReplayOptions{Strict: cfg.Replay.Strict, Speed: cfg.Replay.Speed,
			Ignore: cfg.Replay.MatchIgnore, Secrets: secrets, MaxFileBytes: cfg.Replay.MaxFileBytes, Normalize: norm})
		if err != nil {
			return nil, nil, err
		}
	}
	dir := cfg.Record.Dir
	if dir == "" && rep != nil && !cfg.Replay.Strict {
		dir = cfg.Replay.Dir
	}
	if dir != "" {
		if rec, err = cassette.NewRecorder(dir, cassette.RecordOptions{Secrets: secrets,
			MaxBytes: cfg.Record.MaxBytes, UseUmask: cfg.Record.UseUmask, Logger: logger, Normalize: norm}); err != nil {
			return nil, nil, err
		}
	}
	return rec, rep, nil
}
