//go:build unix

package cli

import (
	"bytes"
	"os"
	"syscall"
	"testing"
)

// The real watch: a signal sent to this process reaches the exit func.
func TestExitOnSignalCatchesARealSignal(t *testing.T) {
	codes := make(chan int, 1)
	stop := exitOnSignal(&bytes.Buffer{}, func(code int) { codes <- code })
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Skip("cannot signal this process:", err)
	}
	if code := <-codes; code != 143 {
		t.Fatalf("exit code %d, want 143", code)
	}
}
