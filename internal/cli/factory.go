package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/charmbracelet/x/term"
	"github.com/jmanhype/runestone/internal/config"
	"github.com/jmanhype/runestone/internal/store"
)

// Factory carries what every command needs: output streams, whether stdout is a
// terminal, and lazily loaded configuration and database (cli/cli's Factory shape).
type Factory struct {
	Out, Err   io.Writer
	IsTTY      bool
	Home       string // --home
	ConfigFile string // --config
	Getenv     func(string) string

	cfg *config.Config
}

// NewFactory returns a Factory over the process's stdout and stderr.
func NewFactory() *Factory {
	return &Factory{Out: os.Stdout, Err: os.Stderr, IsTTY: term.IsTerminal(os.Stdout.Fd()), Getenv: os.Getenv}
}

// Config loads (once) the effective configuration.
func (f *Factory) Config() (*config.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	cfg, err := config.Load(config.Options{Home: f.Home, ConfigFile: f.ConfigFile, Getenv: f.Getenv})
	if err != nil {
		return nil, err
	}
	f.cfg = cfg
	return cfg, nil
}

// HomeDir resolves the home folder without reading the config file.
func (f *Factory) HomeDir() (string, error) { return config.ResolveHome(f.Home, f.getenv()) }

func (f *Factory) getenv() func(string) string {
	if f.Getenv == nil {
		return os.Getenv
	}
	return f.Getenv
}

// OpenStore opens the configured database: the shared Postgres when store.driver says
// so, else the SQLite file in the home folder (creating it 0700/0600). A configuration
// that does not load is an error, not a reason to fall back to SQLite: against a
// Postgres deployment, keys created in a local file would silently never reach the
// gateway.
func (f *Factory) OpenStore(ctx context.Context) (*store.Store, error) {
	// Loaded afresh, not cached: a command may write the config file after this.
	cfg, err := config.Load(config.Options{Home: f.Home, ConfigFile: f.ConfigFile, Getenv: f.Getenv})
	if err != nil {
		return nil, err
	}
	if cfg.Store.Driver != config.StorePostgres {
		if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
			return nil, err
		}
	}
	return store.OpenConfig(ctx, store.Config{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN,
		Path: filepath.Join(cfg.Home, store.FileName)})
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// exitError carries an exit code; usage errors exit 2.
type exitError struct {
	err  error
	code int
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(err error) error { return &exitError{err: err, code: 2} }

// errSilent exits 1 without printing: the command already said why.
var errSilent = errors.New("")
