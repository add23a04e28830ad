package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmanhype/runestone/internal/adminapi"
	"github.com/jmanhype/runestone/internal/config"
)

// runtimeFileName is where `serve` says, inside its home, which address it listens
// on, so `top`, `providers`, `logs replay` and the banner's hints reach the gateway
// that was started rather than assuming 127.0.0.1:4001. It exists while serve runs.
const runtimeFileName = "serve.json"

// serveInfo is the runtime file's content. It holds no secret: only whether an admin
// key is needed.
type serveInfo struct {
	URL              string    `json:"url"`
	PID              int       `json:"pid"`
	AdminKeyRequired bool      `json:"admin_key_required"`
	Shared           bool      `json:"shared,omitempty"` // Postgres + Redis: several replicas on purpose
	Started          time.Time `json:"started"`
}

func runtimePath(home string) string { return filepath.Join(home, runtimeFileName) }

// readServeInfo returns the runtime file of home when the process that wrote it still
// runs; a file left by a crash is ignored.
func readServeInfo(home string) (*serveInfo, bool) {
	data, err := os.ReadFile(runtimePath(home))
	if err != nil {
		return nil, false
	}
	var si serveInfo
	if json.Unmarshal(data, &si) != nil || si.URL == "" || !processAlive(si.PID) {
		return nil, false
	}
	return &si, true
}

// claimHome refuses a second `serve` on a home that is already served (two gateways
// on one store would each count every key's limits: rpm 2 would let 4 through), and
// returns a release func that drops the claim. A store shared on purpose (Postgres
// with Redis limits) may be served by several replicas.
func claimHome(cfg *config.Config) (release func(), err error) {
	if cfg.Store.Driver == config.StorePostgres && cfg.Limits.Backend == config.LimitsRedis {
		return func() {}, nil
	}
	unlock, err := lockHome(cfg.Home)
	if err != nil {
		msg := fmt.Sprintf("%s is already served", cfg.Home)
		if si, ok := readServeInfo(cfg.Home); ok {
			msg = fmt.Sprintf("%s is already served by PID %d on %s", cfg.Home, si.PID, si.URL)
		}
		return nil, &exitError{code: exitConflict, err: errors.New(msg + ": two gateways on one store would each count " +
			"every key's limits; stop it first, or start this one with another --home (several replicas share a home " +
			"only with store.driver = \"postgres\" and limits.backend = \"redis\")")}
	}
	return unlock, nil
}

// writeServeInfo writes the runtime file and returns its remover, which leaves a
// file another replica rewrote since alone.
func writeServeInfo(cfg *config.Config, addr string) (remove func(), err error) {
	si := serveInfo{URL: "http://" + dialAddr(addr), PID: os.Getpid(), AdminKeyRequired: cfg.Auth.AdminKey != "",
		Shared: cfg.Store.Driver == config.StorePostgres && cfg.Limits.Backend == config.LimitsRedis, Started: time.Now().UTC()}
	data, _ := json.MarshalIndent(si, "", "  ")
	path := runtimePath(cfg.Home)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return func() {
		if cur, ok := readServeInfo(cfg.Home); ok && cur.PID != si.PID {
			return
		}
		_ = os.Remove(path)
	}, nil
}

// gatewayTarget is where a client command finds the gateway, and how it found it.
type gatewayTarget struct {
	URL      string
	AdminKey string
	Info     *serveInfo // the runtime file, when one was read
}

// findGateway resolves the gateway a command talks to: --url, else the runtime file
// of the home in use, else http:// + server.addr from the configuration. The admin
// key is --admin-key, else $RUNESTONE_ADMIN_KEY, else auth.admin_key.
func (f *Factory) findGateway(flagURL, flagAdminKey string) (gatewayTarget, error) {
	t := gatewayTarget{URL: flagURL, AdminKey: flagAdminKey}
	if t.AdminKey == "" {
		t.AdminKey = f.getenv()("RUNESTONE_ADMIN_KEY")
	}
	if t.URL == "" {
		if home, err := f.HomeDir(); err == nil {
			if si, ok := readServeInfo(home); ok {
				t.URL, t.Info = si.URL, si
			}
		}
	}
	if t.URL == "" || t.AdminKey == "" {
		cfg, err := f.Config()
		if err != nil {
			if t.URL == "" {
				return t, err
			}
		} else {
			if t.URL == "" {
				t.URL = "http://" + dialAddr(cfg.Server.Addr)
			}
			if t.AdminKey == "" {
				t.AdminKey = cfg.Auth.AdminKey
			}
		}
	}
	if !strings.Contains(t.URL, "://") {
		t.URL = "http://" + t.URL
	}
	t.URL = strings.TrimRight(t.URL, "/")
	return t, nil
}

// client is the admin API client for t.
func (t gatewayTarget) client() *adminapi.Client { return adminapi.New(t.URL, t.AdminKey, nil) }

// explain turns an admin API failure into the sentence a user acts on: a 401 is not
// "no gateway", and retrying it cannot help.
func (t gatewayTarget) explain(err error) error {
	if adminapi.IsUnauthorized(err) {
		how := "pass --admin-key or set RUNESTONE_ADMIN_KEY"
		if t.AdminKey != "" {
			how = "the admin key given (--admin-key, RUNESTONE_ADMIN_KEY or auth.admin_key) is not this gateway's"
		}
		return &exitError{code: exitAuth, err: fmt.Errorf("401: admin key required by the gateway at %s: %s", t.URL, how)}
	}
	return &exitError{code: exitUnavailable, err: fmt.Errorf("no gateway answering on %s (%v): start one with `runestone serve`, "+
		"or pass --url", t.URL, err)}
}

// ping checks the gateway answers the admin API (2 s at most).
func (t gatewayTarget) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := t.client().Providers(ctx)
	return err
}

// hintFlags are the flags a printed hint needs to reach this gateway's home and
// address from another shell ("" when the defaults already do).
func hintFlags(cfg *config.Config) string {
	var b strings.Builder
	if def, err := config.ResolveHome("", func(string) string { return "" }); err != nil || def != cfg.Home {
		fmt.Fprintf(&b, " --home %s", shellQuote(cfg.Home))
	}
	if cfg.File != "" && cfg.File != filepath.Join(cfg.Home, config.FileName) {
		fmt.Fprintf(&b, " --config %s", shellQuote(cfg.File))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t'\"$`\\!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
