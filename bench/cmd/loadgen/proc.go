package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clkTck is USER_HZ, 100 on every Linux we care about.
const clkTck = 100

// cpuTicks returns utime+stime of pid in clock ticks, or -1.
func cpuTicks(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// the command name may hold spaces: fields start after the last ')'
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	// after ')' the fields are: state(3) ppid(4) ... utime(14) stime(15) → index 11, 12
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// statusKB returns a "VmRSS"/"VmHWM"-style field of /proc/pid/status in KiB, or -1.
func statusKB(pid int, field string) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return -1
}

// runqWaitMs sums, over every thread of pid, the time spent runnable but waiting
// for a CPU (second field of /proc/<pid>/task/*/schedstat), in ms; -1 if unknown.
// Threads that exited in between are lost, so it is a lower bound.
func runqWaitMs(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	dirs, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return -1
	}
	var ns int64
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + d.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			ns += n
		}
	}
	return float64(ns) / 1e6
}

func rssMB(pid int) float64 {
	kb := statusKB(pid, "VmRSS")
	if kb < 0 {
		return -1
	}
	return float64(kb) / 1024
}

// sampler measures a process's CPU use over an interval and its peak RSS, sampled
// every 100 ms.
type sampler struct {
	pid    int
	t0     time.Time
	ticks0 int64
	stop   chan struct{}
	done   sync.WaitGroup
	maxKB  int64
	anonKB int64   // peak RssAnon: the private part of RSS (heap, stacks), without the binary's shared file pages
	cpuSec float64 // CPU seconds used between start and finish (after finish)
	wait0  float64
	waitMs float64 // run-queue wait between start and finish (after finish)
}

func startSampler(pid int) *sampler {
	s := &sampler{pid: pid, t0: time.Now(), ticks0: cpuTicks(pid), wait0: runqWaitMs(pid), stop: make(chan struct{})}
	if pid <= 0 {
		return s
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := statusKB(pid, "VmRSS"); kb > s.maxKB {
				s.maxKB = kb
			}
			if kb := statusKB(pid, "RssAnon"); kb > s.anonKB {
				s.anonKB = kb
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish returns CPU percent of one core and peak RSS in MB (-1 when unknown).
func (s *sampler) finish() (cpuPct, peakMB float64) {
	if s.pid <= 0 {
		return -1, -1
	}
	close(s.stop)
	s.done.Wait()
	t1 := cpuTicks(s.pid)
	el := time.Since(s.t0).Seconds()
	if s.ticks0 < 0 || t1 < 0 || el <= 0 {
		return -1, float64(s.maxKB) / 1024
	}
	if kb := statusKB(s.pid, "VmRSS"); kb > s.maxKB {
		s.maxKB = kb
	}
	if kb := statusKB(s.pid, "RssAnon"); kb > s.anonKB {
		s.anonKB = kb
	}
	s.cpuSec = float64(t1-s.ticks0) / clkTck
	if w := runqWaitMs(s.pid); w >= 0 && s.wait0 >= 0 {
		s.waitMs = w - s.wait0
	}
	return s.cpuSec / el * 100, float64(s.maxKB) / 1024
}
