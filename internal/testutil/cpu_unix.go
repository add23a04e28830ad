//go:build unix

package testutil

import (
	"syscall"
	"time"
)

// ProcessCPU is this process's user+system CPU time so far, for benchmarks that
// report CPU per operation (what a busy core pays) beside wall time.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
