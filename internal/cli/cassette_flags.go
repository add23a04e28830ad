package cli

import (
	"fmt"

	"github.com/jmanhype/runestone/internal/config"
	"github.com/spf13/cobra"
)

// cassetteFlags are the record/replay flags `serve` and `exec` share; set flags win
// over [record] / [replay] in the configuration.
type cassetteFlags struct {
	record, replay string
	speed          float64
	strict         bool
	recordMock     bool
	ignore         []string
	changed        func(name string) bool
}

func (c *cassetteFlags) register(cmd *cobra.Command, withRecordReplay bool) {
	fl := cmd.Flags()
	if withRecordReplay {
		fl.StringVar(&c.record, "record", "", "record every exchange as a cassette file into `DIR`")
		fl.StringVar(&c.replay, "replay", "", "answer matching requests from the cassettes in `DIR`")
		fl.BoolVar(&c.recordMock, "record-mock", false, "with --record and no real provider configured: record the offline mock's answers on purpose")
	}
	fl.Float64Var(&c.speed, "replay-speed", 0, "stream pace on replay: 0 = as fast as possible, 1 = as recorded")
	fl.BoolVar(&c.strict, "strict", false, "on replay, answer a request no cassette matches with 4xx cassette_miss instead of asking a provider")
	fl.StringArrayVar(&c.ignore, "match-ignore", nil, "JSON `PATH` matching ignores, e.g. '$.messages[0].content' (repeatable)")
}

func (c *cassetteFlags) apply(cfg *config.Config) error {
	set := func(name string) bool { return c.changed != nil && c.changed(name) }
	if c.speed < 0 {
		return usageError(fmt.Errorf("--replay-speed %v: want 0 (as fast as possible) or more", c.speed))
	}
	if c.record != "" {
		cfg.Record.Dir = c.record
	}
	if c.replay != "" {
		cfg.Replay.Dir = c.replay
	}
	if set("replay-speed") {
		cfg.Replay.Speed = c.speed
	}
	if set("strict") {
		cfg.Replay.Strict = c.strict
	}
	cfg.Replay.MatchIgnore = append(cfg.Replay.MatchIgnore, c.ignore...)
	if set("strict") && c.strict && cfg.Replay.Dir == "" {
		return usageError(fmt.Errorf("--strict needs cassettes to replay: add --replay DIR (or [replay] dir)"))
	}
	if cfg.Record.Dir != "" && !c.recordMock && onlyMock(cfg) {
		return usageError(fmt.Errorf("recording into %s, but no real provider is configured (no OPENAI_API_KEY, ANTHROPIC_API_KEY or [[providers]] here): "+
			"the offline mock would answer, and its made-up answers would be recorded as if a provider gave them. "+
			"Set a provider key (or --config), or pass --record-mock to record the mock on purpose", cfg.Record.Dir))
	}
	return nil
}

// onlyMock reports whether every configured provider is the offline mock.
func onlyMock(cfg *config.Config) bool {
	for _, p := range cfg.Providers {
		if p.Kind != config.KindMock {
			return false
		}
	}
	return true
}
