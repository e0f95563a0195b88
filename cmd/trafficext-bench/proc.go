package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trafficext/trafficext/internal/envoyproc"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on every Linux
// architecture Envoy ships for).
const clockTicks = 100

// rss is VmRSS of a process in bytes.
var rss = envoyproc.RSS

// procCPU is the user+system CPU time of all threads of a process.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15 stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// selfCPU is the user+system CPU time of this process (load generator and upstream).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type machine struct {
	NumCPU   int
	CPUModel string
	MemTotal string
	Kernel   string
	OS       string
}

func readMachine() machine {
	m := machine{NumCPU: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// cpuTimes is the machine-wide busy and total jiffies from /proc/stat.
func cpuTimes() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		if i >= 8 { // guest time is already counted in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// workerConns reads how many downstream connections each Envoy worker holds on the listener.
func workerConns(admin func(string) (string, error), listenPort int) string {
	prefix := fmt.Sprintf("listener.127.0.0.1_%d.worker_", listenPort)
	body, err := admin("/stats?filter=^" + strings.ReplaceAll(prefix, ".", `\.`) + `[0-9]+\.downstream_cx_active$`)
	if err != nil {
		return "?"
	}
	byWorker := map[int]string{}
	maxW := -1
	for _, l := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			continue
		}
		w, _, _ := strings.Cut(strings.TrimPrefix(k, prefix), ".")
		i, err := strconv.Atoi(w)
		if err != nil {
			continue
		}
		byWorker[i] = strings.TrimSpace(v)
		maxW = max(maxW, i)
	}
	var out []string
	for i := 0; i <= maxW; i++ {
		out = append(out, byWorker[i])
	}
	return strings.Join(out, "/")
}
