//go:build !unix

package redislimit

import "time"

func processCPU() time.Duration { return 0 }
