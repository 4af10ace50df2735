//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/loopback"
)

const (
	scaleTargetsPerPool = 4
	scaleHangTargets    = 1000
	scaleMeasure        = 10 * time.Second
)

// scaleTarget is the address of target i: the first scaleHangTargets sit
// in 127.21/16, whose probes can be made to time out, the rest in 127.20/16.
func scaleTarget(i int) string {
	second := 20
	if i < scaleHangTargets {
		second = 21
	}
	return fmt.Sprintf("127.%d.%d.%d", second, i/250, i%250+1)
}

// scale probes pools × 4 targets every second with a tcp check that expects
// a greeting from loopback listeners, and measures CoreDNS's CPU, memory,
// goroutines, probe lateness, start-up to Ready, and query latency, first
// with every probe passing, then with 1,000 probes timing out.
func (b *bench) scale(pools int, profileDir string) error {
	// Each target holds a watch connection open in CoreDNS and in the
	// backend listener here: both need more descriptors than the usual 1024.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if need := uint64(pools*scaleTargetsPerPool) + 2000; uint64(lim.Cur) < need {
		return fmt.Errorf("the open file limit %d is below the %d this benchmark needs", lim.Cur, need)
	}
	var hang atomic.Bool
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go acceptScale(ln, &hang)
	backendPort := ln.Addr().(*net.TCPAddr).Port

	ports, err := loopback.FreePorts(4)
	if err != nil {
		return err
	}
	dnsPort, readyPort, metricsPort, pprofPort := ports[0], ports[1], ports[2], ports[3]
	var cf strings.Builder
	fmt.Fprintf(&cf, ".:%d {\n    bind 127.0.0.1\n    ready 127.0.0.1:%d\n    prometheus 127.0.0.1:%d\n    pprof 127.0.0.1:%d\n    failover example.org {\n",
		dnsPort, readyPort, metricsPort, pprofPort)
	for p := range pools {
		fmt.Fprintf(&cf, "        pool p%04d.example.org {\n", p)
		for t := range scaleTargetsPerPool {
			fmt.Fprintf(&cf, "            target %s priority %d\n", scaleTarget(p*scaleTargetsPerPool+t), t+1)
		}
		fmt.Fprintf(&cf, "            check tcp://p%04d.example.org:%d {\n                expect ok\n            }\n            interval 1s\n            timeout 500ms\n        }\n", p, backendPort)
	}
	cf.WriteString("    }\n}\n")
	targets := pools * scaleTargetsPerPool

	start := time.Now()
	c, err := b.startCoreDNS(cf.String(), dnsPort)
	if err != nil {
		return err
	}
	defer c.stop()
	readyURL := fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort)
	for {
		if resp, err := http.Get(readyURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 60*time.Second {
			return fmt.Errorf("not ready after 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ready := time.Since(start)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	fmt.Printf("Scale: %d pools x %d = %d targets, tcp check with a greeting every 1s (timeout 500ms), connection watch on\n", pools, scaleTargetsPerPool, targets)
	fmt.Printf("  start-up to Ready: %s  target < 5s: %s\n", ready.Round(time.Millisecond), verdict(ready < 5*time.Second))

	phase := func(name string) (cpu float64, p99 time.Duration, err error) {
		time.Sleep(3 * time.Second) // let the schedule settle
		t0, late0, err := snapshot(c.pid(), metricsURL)
		if err != nil {
			return 0, 0, err
		}
		time.Sleep(scaleMeasure)
		t1, late1, err := snapshot(c.pid(), metricsURL)
		if err != nil {
			return 0, 0, err
		}
		if profileDir != "" && name == "steady" {
			// Profiles come after the measurement, which they would skew.
			if err := fetch(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", pprofPort, int(scaleMeasure.Seconds())),
				filepath.Join(profileDir, "scale-cpu.pprof")); err != nil {
				return 0, 0, err
			}
			if err := fetch(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", pprofPort), filepath.Join(profileDir, "scale-heap.pprof")); err != nil {
				return 0, 0, err
			}
		}
		cpu = float64(t1.ticks-t0.ticks) / 100 / scaleMeasure.Seconds() // USER_HZ is 100 on Linux
		fmt.Printf("  [%s] CPU %.3f of one core, RSS %.0f MB (Go heap in use %.0f MB, stacks %.0f MB), goroutines %.0f\n",
			name, cpu, t1.rssMB, t1.heapInuseMB, t1.stackMB, t1.goroutines)
		fmt.Printf("  [%s] probe lateness p50 <= %s p99 <= %s (%0.f scheduled rounds)\n",
			name, late1.quantile(late0, .5), late1.quantile(late0, .99), late1.count-late0.count)
		lat, err := queryLatency(c.addr, pools, 1000, scaleMeasure)
		if err != nil {
			return 0, 0, err
		}
		fmt.Printf("  [%s] queries at 1000/s for %s: p50 %s p99 %s max %s\n", name, scaleMeasure,
			quantile(lat, .5).Round(time.Microsecond), quantile(lat, .99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
		if name == "steady" {
			fmt.Printf("  targets: CPU < 0.5 core: %s; RSS < 200 MB: %s; p99 lateness < 100ms: %s\n",
				verdict(cpu < 0.5), verdict(t1.rssMB < 200), verdict(late1.quantileSeconds(late0, .99) <= 0.075))
		}
		return cpu, quantile(lat, .99), nil
	}
	_, baseP99, err := phase("steady")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, c.logTail())
	}
	hang.Store(true)
	_, hangP99, err := phase(fmt.Sprintf("%d probes timing out", scaleHangTargets))
	if err != nil {
		return fmt.Errorf("%w\n%s", err, c.logTail())
	}
	ratio := float64(hangP99) / float64(baseP99)
	fmt.Printf("  query p99 with %d probes timing out / steady: %.2f  target unchanged within noise (<= 1.5): %s\n", scaleHangTargets, ratio, verdict(ratio <= 1.5))
	return nil
}

// acceptScale greets loopback connections with "ok" (or, for 127.21/16
// while hang is set, with nothing) and holds them until the peer closes.
func acceptScale(ln net.Listener, hang *atomic.Bool) {
	reported := false
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			if !reported {
				fmt.Printf("  (backend accept: %v)\n", err)
				reported = true
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			local := c.LocalAddr().(*net.TCPAddr).IP
			if !local.IsLoopback() {
				return
			}
			if !(hang.Load() && local[len(local)-3] == 21) {
				c.Write([]byte("ok\n"))
			}
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
}

func fetch(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Printf("  (profile saved: %s)\n", file)
	return os.WriteFile(file, data, 0o644)
}

type procSnapshot struct {
	ticks       uint64 // utime + stime
	rssMB       float64
	goroutines  float64
	heapInuseMB float64
	stackMB     float64
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

func snapshot(pid int, metricsURL string) (procSnapshot, histogram, error) {
	var s procSnapshot
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, histogram{}, err
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	s.ticks = utime + stime
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			s.rssMB = kb / 1024
		}
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		return s, histogram{}, err
	}
	defer resp.Body.Close()
	var h histogram
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "go_goroutines "):
			s.goroutines, _ = strconv.ParseFloat(strings.Fields(line)[1], 64)
		case strings.HasPrefix(line, "go_memstats_heap_inuse_bytes "):
			s.heapInuseMB, _ = strconv.ParseFloat(strings.Fields(line)[1], 64)
			s.heapInuseMB /= 1 << 20
		case strings.HasPrefix(line, "go_memstats_stack_inuse_bytes "):
			s.stackMB, _ = strconv.ParseFloat(strings.Fields(line)[1], 64)
			s.stackMB /= 1 << 20
		case strings.HasPrefix(line, `coredns_failover_probe_lateness_seconds_bucket{le="`):
			le := strings.TrimSuffix(strings.TrimPrefix(strings.Fields(line)[0], `coredns_failover_probe_lateness_seconds_bucket{le="`), `"}`)
			bound, _ := strconv.ParseFloat(le, 64)
			if le == "+Inf" {
				bound = math.Inf(1)
			}
			n, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			h.bounds = append(h.bounds, bound)
			h.counts = append(h.counts, n)
		case strings.HasPrefix(line, "coredns_failover_probe_lateness_seconds_count "):
			h.count, _ = strconv.ParseFloat(strings.Fields(line)[1], 64)
		}
	}
	return s, h, sc.Err()
}

// queryLatency sends A queries for random pool names at rate per second for
// d and returns the sorted latencies. Lost queries count as one second.
func queryLatency(server string, pools, rate int, d time.Duration) ([]time.Duration, error) {
	const workers = 8
	total := int(d.Seconds()) * rate
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	jobs := make(chan int)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	var firstErr error
	for range workers {
		conn, err := dns.Dial("udp", server)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		wg.Go(func() {
			for i := range jobs {
				m := new(dns.Msg)
				m.SetQuestion(fmt.Sprintf("p%04d.example.org.", i%pools), dns.TypeA)
				conn.SetDeadline(time.Now().Add(time.Second))
				start := time.Now()
				err := conn.WriteMsg(m)
				if err == nil {
					_, err = conn.ReadMsg()
				}
				took := time.Since(start)
				if err != nil {
					took = time.Second
				}
				mu.Lock()
				lat = append(lat, took)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for i := range total {
		<-tick.C
		jobs <- i * 7919 // spread over the pools
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		fmt.Printf("  (some queries failed: %v)\n", firstErr)
	}
	return sorted(lat), nil
}
