//go:build linux

package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTicks is a process's CPU time so far, in clock ticks (USER_HZ, 100 on
// Linux), from /proc/PID/stat.
type cpuTicks struct{ utime, stime uint64 }

func readCPU(pid int) (cpuTicks, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTicks{}, err
	}
	// Fields after the command name, which may hold spaces: state is [0],
	// utime [11], stime [12] (fields 14 and 15 of proc(5)).
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return cpuTicks{utime, stime}, nil
}

// cores returns the CPU used between t0 and t, in cores: user, system, total.
func (t cpuTicks) cores(t0 cpuTicks, d time.Duration) (user, sys, total float64) {
	user = float64(t.utime-t0.utime) / 100 / d.Seconds()
	sys = float64(t.stime-t0.stime) / 100 / d.Seconds()
	return user, sys, user + sys
}

// memory is a process's resident set, in MB, from /proc/PID/status: VmRSS,
// and its anonymous (heap, stacks) and file-backed (the binary's pages)
// parts.
type memory struct{ rss, anon, file float64 }

func readMemory(pid int) memory {
	var m memory
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kb / 1024
		case "RssAnon:":
			m.anon = kb / 1024
		case "RssFile:":
			m.file = kb / 1024
		}
	}
	return m
}

func (m memory) String() string {
	return fmt.Sprintf("RSS %.1f MB (anonymous %.1f MB, file-backed %.1f MB)", m.rss, m.anon, m.file)
}

// openFiles counts the descriptors this process holds.
func openFiles() int {
	fds, _ := os.ReadDir("/proc/self/fd")
	return len(fds)
}

// fileLimit is this process's descriptor limit (the soft one).
func fileLimit() uint64 {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

type histogram struct {
	bounds []float64
	counts []float64 // cumulative
	count  float64
}

// quantile returns the upper bound of the bucket holding quantile q of the
// observations made between earlier and h.
func (h histogram) quantile(earlier histogram, q float64) string {
	s := h.quantileSeconds(earlier, q)
	if math.IsInf(s, 1) {
		return "+Inf"
	}
	return (time.Duration(s * float64(time.Second))).String()
}

func (h histogram) quantileSeconds(earlier histogram, q float64) float64 {
	total := h.count - earlier.count
	for i, b := range h.bounds {
		prev := 0.0
		if i < len(earlier.counts) {
			prev = earlier.counts[i]
		}
		if h.counts[i]-prev >= q*total {
			return b
		}
	}
	return math.Inf(1)
}

// interpolated estimates quantile q of the observations made between
// earlier and h as Prometheus's histogram_quantile does: linearly within
// the bucket that holds it.
func (h histogram) interpolated(earlier histogram, q float64) float64 {
	total := h.count - earlier.count
	lower, below := 0.0, 0.0
	for i, b := range h.bounds {
		n := h.counts[i]
		if i < len(earlier.counts) {
			n -= earlier.counts[i]
		}
		if n >= q*total {
			if math.IsInf(b, 1) || n == below {
				return lower
			}
			return lower + (b-lower)*(q*total-below)/(n-below)
		}
		lower, below = b, n
	}
	return math.Inf(1)
}

// metrics is what a scrape of CoreDNS's /metrics says about probing.
type metrics struct {
	at                               time.Time
	took                             time.Duration // to serve and read the scrape
	bytes                            int
	goroutines, heapInuseMB, stackMB float64
	lateness                         histogram
	unwatched                        float64
	targetsDown                      int     // coredns_failover_target_up series at 0
	transitionsDown                  float64 // sum of transitions_total{to="down"}
	probesOK, probesFailed           float64 // sum of probes_total by result
}

// scrapeClient opens a connection per scrape (the prometheus plugin closes
// idle ones after 5 s, sooner than the measurement's windows) and asks for
// no gzip, which would cost CoreDNS CPU.
var scrapeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}, Timeout: 30 * time.Second}

// scrape reads CoreDNS's metrics, trying five times: the prometheus plugin
// cuts a response that takes more than 5 s to write, as one may on a busy
// machine with many targets.
func scrape(url string) (metrics, error) {
	var err error
	for try := 1; try <= 5; try++ {
		var m metrics
		start := time.Now()
		if m, err = scrapeOnce(url); err == nil {
			return m, nil
		}
		fmt.Printf("  (scrape %d of /metrics failed after %s: %v)\n", try, time.Since(start).Round(time.Millisecond), err)
		time.Sleep(2 * time.Second)
	}
	return metrics{}, err
}

// scrapeOnce reads CoreDNS's metrics once; their time is taken as the
// middle of the request, which takes a while with many targets.
func scrapeOnce(url string) (metrics, error) {
	var m metrics
	start := time.Now()
	resp, err := scrapeClient.Get(url)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m.bytes += len(sc.Bytes()) + 1
		m.add(sc.Text())
	}
	m.took = time.Since(start)
	m.at = start.Add(m.took / 2)
	return m, sc.Err()
}

// add reads one line of the exposition format.
func (m *metrics) add(line string) {
	if strings.HasPrefix(line, "#") {
		return
	}
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return
	}
	name, v := line[:sp], line[sp+1:]
	val, _ := strconv.ParseFloat(v, 64)
	const lateBucket = `coredns_failover_probe_lateness_seconds_bucket{le="`
	switch {
	case name == "go_goroutines":
		m.goroutines = val
	case name == "go_memstats_heap_inuse_bytes":
		m.heapInuseMB = val / (1 << 20)
	case name == "go_memstats_stack_inuse_bytes":
		m.stackMB = val / (1 << 20)
	case name == "coredns_failover_unwatched_targets":
		m.unwatched = val
	case strings.HasPrefix(name, "coredns_failover_target_up{"):
		if val == 0 {
			m.targetsDown++
		}
	case strings.HasPrefix(name, "coredns_failover_transitions_total{") && strings.Contains(name, `to="down"`):
		m.transitionsDown += val
	case strings.HasPrefix(name, "coredns_failover_probes_total{"):
		if strings.Contains(name, `result="success"`) {
			m.probesOK += val
		} else {
			m.probesFailed += val
		}
	case strings.HasPrefix(name, lateBucket):
		bound, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(name, lateBucket), `"}`), 64) // "+Inf" parses as +Inf
		m.lateness.bounds = append(m.lateness.bounds, bound)
		m.lateness.counts = append(m.lateness.counts, val)
	case name == "coredns_failover_probe_lateness_seconds_count":
		m.lateness.count = val
	}
}
