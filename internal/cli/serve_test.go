package cli

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestExitOnSecondSignal(t *testing.T) {
	for _, tc := range []struct {
		sig  os.Signal
		code int
	}{{os.Interrupt, 130}, {syscall.SIGTERM, 143}} {
		sigs, done := make(chan os.Signal, 1), make(chan struct{})
		var out bytes.Buffer
		got := -1
		sigs <- tc.sig
		exitOnFirst(sigs, done, &out, func(code int) { got = code })
		if got != tc.code || !strings.Contains(out.String(), "Interrupted again") {
			t.Errorf("%v: exit %d, output %q; want exit %d and a note", tc.sig, got, out.String(), tc.code)
		}
	}
	// The drain finishing first ends the watch without exiting.
	sigs, done := make(chan os.Signal, 1), make(chan struct{})
	close(done)
	exitOnFirst(sigs, done, &bytes.Buffer{}, func(code int) { t.Errorf("exit(%d) after the drain finished", code) })
}
