package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/jmanhype/runestone/internal/config"
)

// startPprof serves net/http/pprof on addr (RUNESTONE_PPROF, loopback only) for
// profiling a running gateway; it is never on by default.
func startPprof(addr string, log *slog.Logger) (func(), error) {
	if !config.IsLoopback(addr) {
		return nil, errors.New("RUNESTONE_PPROF must be a loopback address such as 127.0.0.1:6060")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listener: %w", err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof serving", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
