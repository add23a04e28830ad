package cli

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestPortInUseNamesTheProcess: a port held by a process that is no gateway is
// refused naming the holder's PID and command (this test's own listener, on Linux),
// and always says how to pick another port.
func TestPortInUseNamesTheProcess(t *testing.T) {
	held := httptest.NewServer(http.NotFoundHandler()) // answers, but not as a gateway
	defer held.Close()
	addr := held.Listener.Addr().String()
	_, err := net.Listen("tcp", addr)
	if err == nil {
		t.Fatal("a second listener on a held port should fail")
	}
	msg := portInUse(err, addr).Error()
	var ee *exitError
	if !errors.As(portInUse(err, addr), &ee) || ee.code != exitConflict {
		t.Fatalf("want an exit-conflict error, got %v", err)
	}
	if !strings.Contains(msg, "--addr 127.0.0.1:PORT") {
		t.Errorf("should say how to pick another port: %s", msg)
	}
	if runtime.GOOS != "linux" {
		t.Skip("naming the holder needs /proc (Linux)")
	}
	exe, _ := os.Executable()
	comm := filepath.Base(exe)
	if len(comm) > 15 { // /proc/PID/comm keeps 15 bytes
		comm = comm[:15]
	}
	if want := fmt.Sprintf("another process (PID %d, %s)", os.Getpid(), comm); !strings.Contains(msg, want) {
		t.Errorf("message should name this process, %q:\n%s", want, msg)
	}
}
