package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStat is one look at a process: resident memory and CPU time.
type procStat struct {
	RSSKiB  int64   // VmRSS
	HWMKiB  int64   // VmHWM, the peak RSS since start
	AnonKiB int64   // RssAnon: the heap and stacks, without mapped files
	Threads int     // OS threads (Go's Ms), not goroutines
	CPU     float64 // utime+stime, seconds
	FDs     int     // open files
}

// parseStatus fills the memory and thread fields of ps from the text of
// /proc/PID/status; it fails when VmRSS or Threads is missing (a kernel
// thread, or not a status file at all).
func parseStatus(b []byte, ps *procStat) error {
	var haveRSS, haveThreads bool
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			ps.RSSKiB, haveRSS = n, true
		case "VmHWM:":
			ps.HWMKiB = n
		case "RssAnon:":
			ps.AnonKiB = n
		case "Threads:":
			ps.Threads, haveThreads = int(n), true
		}
	}
	if !haveRSS || !haveThreads {
		return fmt.Errorf("no VmRSS or Threads line in the status file")
	}
	return nil
}

// clockTicks is sysconf(_SC_CLK_TCK); 100 on every Linux we care about.
const clockTicks = 100

func readProc(pid int) (procStat, error) {
	var ps procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	if err := parseStatus(b, &ps); err != nil {
		return ps, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// Fields after the ")" that ends the command name: state is field 3,
	// utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) > 12 {
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		ps.CPU = (ut + st) / clockTicks
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		ps.FDs = len(ents)
	}
	return ps, nil
}

// procWatch polls a process and keeps the largest RSS it saw.
type procWatch struct {
	pid    int
	mu     sync.Mutex
	maxRSS int64
	stop   chan struct{}
	done   chan struct{}
}

func watchProc(pid int) *procWatch {
	w := &procWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if ps, err := readProc(pid); err == nil {
				w.mu.Lock()
				w.maxRSS = max(w.maxRSS, ps.RSSKiB)
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *procWatch) Stop() int64 {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxRSS
}

// machineCPU returns the machine's busy and total CPU seconds so far, from
// /proc/stat (all CPUs), so a report can show what other processes took.
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, x := range f[1:] {
		v, _ := strconv.ParseFloat(x, 64)
		if i >= 8 { // guest time is already counted in user
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy / clockTicks, total / clockTicks
}

// loadAvg is the first field of /proc/loadavg.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// waitQuiet waits up to limit for a second in which the machine is at
// least 90% idle (other people's builds and tests skew latency figures),
// and returns the busy fraction of the last second it saw.
func waitQuiet(limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	for {
		b0, t0 := machineCPU()
		time.Sleep(time.Second)
		b1, t1 := machineCPU()
		busy := 0.0
		if t1 > t0 {
			busy = (b1 - b0) / (t1 - t0)
		}
		if busy < 0.10 || time.Now().After(deadline) {
			return busy
		}
	}
}
