package server

import (
	"fmt"
	"os"

	"github.com/jmanhype/runestone/internal/cassette"
	"github.com/jmanhype/runestone/internal/config"
)

// newCassettes builds the Recorder and Replayer the configuration asks for. A
// non-strict replay records its misses into the replay folder (record-on-miss) unless
// record.dir names another.
func newCassettes(cfg *config.Config) (*cassette.Recorder, *cassette.Replayer, error) {
	var rec *cassette.Recorder
	var rep *cassette.Replayer
	var err error
	secrets := cfg.Secrets()
	if d := cfg.Replay.Dir; d != "" {
		if !cfg.Replay.Strict {
			// Record-on-miss may start from nothing: the first run fills the folder.
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, nil, fmt.Errorf("create cassette folder: %w", err)
			}
		}
		rep, err = cassette.OpenReplayer(d, cassette.ReplayOptions{Strict: cfg.Replay.Strict, Speed: cfg.Replay.Speed,
			Ignore: cfg.Replay.MatchIgnore, Secrets: secrets})
		if err != nil {
			return nil, nil, err
		}
	}
	dir := cfg.Record.Dir
	if dir == "" && rep != nil && !cfg.Replay.Strict {
		dir = cfg.Replay.Dir
	}
	if dir != "" {
		if rec, err = cassette.NewRecorder(dir, secrets); err != nil {
			return nil, nil, err
		}
	}
	return rec, rep, nil
}
