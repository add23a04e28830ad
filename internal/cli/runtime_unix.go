//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockHome takes an exclusive, non-blocking flock on <home>/serve.lock. The kernel
// drops it when the process dies, so a crash never leaves the home claimed.
func lockHome(home string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(home, "serve.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// processAlive reports whether pid names a running process (signal 0 checks only).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
