package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// processCPU is the user+system time pid has used, from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, s)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// residentMiB is pid's resident memory (VmRSS) in MiB.
func residentMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

// parseVmRSS reads the VmRSS line of a /proc/<pid>/status file, in MiB.
func parseVmRSS(status string) (float64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		return float64(kib) / 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS line in the process status")
}

// settledResidentMiB waits for a process to settle after load and returns
// the median of a few samples of its resident memory: the Go collector
// and scavenger move it by a few MiB from one moment to the next.
func settledResidentMiB(pid int) (float64, error) {
	time.Sleep(2 * time.Second)
	var xs []float64
	for i := 0; i < 5; i++ {
		v, err := residentMiB(pid)
		if err != nil {
			return 0, err
		}
		xs = append(xs, v)
		time.Sleep(300 * time.Millisecond)
	}
	return median(xs), nil
}

// liveHeapMiB is the heap a Traefik still uses right after a collection:
// its debug API's heap profile with gc=1 runs one, then its expvar
// memstats give the heap in use. Unlike the resident memory it does not
// depend on when the collector last ran or what the scavenger returned.
func liveHeapMiB(apiURL string) (float64, error) {
	resp, err := http.Get(apiURL + "/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /debug/pprof/heap: %s", resp.Status)
	}
	resp, err = http.Get(apiURL + "/debug/vars")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var vars struct {
		Memstats struct {
			HeapAlloc uint64
		} `json:"memstats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		return 0, fmt.Errorf("GET /debug/vars: %w", err)
	}
	if vars.Memstats.HeapAlloc == 0 {
		return 0, fmt.Errorf("GET /debug/vars: no memstats.HeapAlloc")
	}
	return float64(vars.Memstats.HeapAlloc) / (1 << 20), nil
}
