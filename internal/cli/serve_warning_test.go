package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeWarnsWhenAuthIsOff: auth off on loopback is allowed, but serve says once
// what that exposes; with auth on it says nothing of the kind.
func TestServeWarnsWhenAuthIsOff(t *testing.T) {
	for _, off := range []bool{true, false} {
		env := map[string]string{}
		if off {
			env["RUNESTONE_AUTH_ENABLED"] = "false"
		}
		var out, errb lockedBuf
		f := &Factory{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int)
		go func() {
			done <- Execute(ctx, f, BuildInfo{Version: "test"}, []string{"--home", t.TempDir(), "serve", "--no-tui", "--addr", "127.0.0.1:0"})
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(errb.String()+out.String(), "127.0.0.1:") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		got := strings.Count(errb.String(), "authentication is off")
		if off && got != 1 || !off && got != 0 {
			t.Fatalf("auth off %v: %d warning lines in\n%s", off, got, errb.String())
		}
	}
}
