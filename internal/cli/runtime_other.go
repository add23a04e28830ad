//go:build !unix

package cli

import (
	"errors"
	"os"
)

// lockHome has no flock here: a runtime file whose process still runs is the claim.
func lockHome(home string) (unlock func(), err error) {
	if si, ok := readServeInfo(home); ok && si.PID != os.Getpid() {
		return nil, errors.New("served")
	}
	return func() {}, nil
}

// processAlive reports whether pid names a running process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
