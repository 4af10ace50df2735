//go:build linux

package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/failover-dns/failover/internal/loopback"
)

// dnsperfResult is what one dnsperf run reports.
type dnsperfResult struct {
	qps, avg, stddev, max float64 // latencies in seconds
}

// p99ish approximates the 99th percentile latency as avg + 2.33 σ; dnsperf
// 2.10 reports no percentiles.
func (r dnsperfResult) p99ish() float64 { return r.avg + 2.33*r.stddev }

var (
	reQPS     = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reLatency = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+) \(min ([0-9.]+), max ([0-9.]+)\)`)
	reStddev  = regexp.MustCompile(`Latency StdDev \(s\):\s+([0-9.]+)`)
	reLost    = regexp.MustCompile(`Queries lost:\s+(\d+)`)
)

func (b *bench) dnsperf(server, queries string, d time.Duration) (dnsperfResult, error) {
	host, port := splitHostPort(server)
	cmd := pinned(b.clientCPU, "dnsperf", "-s", host, "-p", port, "-d", queries,
		"-l", strconv.Itoa(int(d.Seconds())), "-c", "4", "-q", "200", "-t", "2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return dnsperfResult{}, fmt.Errorf("dnsperf: %v\n%s", err, out)
	}
	num := func(re *regexp.Regexp, i int) float64 {
		m := re.FindSubmatch(out)
		if m == nil {
			return math.NaN()
		}
		f, _ := strconv.ParseFloat(string(m[i]), 64)
		return f
	}
	r := dnsperfResult{qps: num(reQPS, 1), avg: num(reLatency, 1), max: num(reLatency, 3), stddev: num(reStddev, 1)}
	if math.IsNaN(r.qps) || math.IsNaN(r.avg) {
		return r, fmt.Errorf("cannot read dnsperf output:\n%s", out)
	}
	if lost := num(reLost, 1); lost > 0 {
		fmt.Printf("  (dnsperf lost %v queries)\n", lost)
	}
	return r, nil
}

func splitHostPort(addr string) (string, string) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	return addr, "53"
}

// throughput serves a pool name and a hosts record of the same shape (two A
// records) from one CoreDNS process and alternates dnsperf runs at each.
func (b *bench) throughput(runs int, each time.Duration) error {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return fmt.Errorf("dnsperf is not installed (apt-get install dnsperf; make bench does it)")
	}
	backendPort, err := loopback.FreePort()
	if err != nil {
		return err
	}
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		ln, err := holdListener(ip+":"+strconv.Itoa(backendPort), nil)
		if err != nil {
			return err
		}
		defer ln.Close()
	}
	dnsPort, err := loopback.FreePort()
	if err != nil {
		return err
	}
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    failover example.org {
        pool www.example.org {
            target 127.0.0.1
            target 127.0.0.2
            check tcp://www.example.org:%d
        }
    }
    hosts {
        127.0.0.1 static.example.org
        127.0.0.2 static.example.org
        fallthrough
    }
}
`, dnsPort, backendPort)
	c, err := b.startCoreDNS(corefile, dnsPort)
	if err != nil {
		return err
	}
	defer c.stop()
	for _, name := range []string{"www.example.org.", "static.example.org."} {
		if _, err := waitAnswer(c.addr, name, 10*time.Second, "127.0.0.1", "127.0.0.2"); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "failover-dnsperf")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{}
	for kind, name := range map[string]string{"pool": "www.example.org", "static": "static.example.org"} {
		files[kind] = filepath.Join(dir, kind)
		if err := os.WriteFile(files[kind], []byte(name+" A\n"), 0o644); err != nil {
			return err
		}
	}

	fmt.Printf("Throughput: dnsperf (CPU %s) against CoreDNS (CPU %s), %s per run, %d alternations\n", b.clientCPU, b.coreCPU, each, runs)
	results, err := b.alternate(c.addr, files, runs, each)
	if err != nil {
		return err
	}
	summarize(results)
	return nil
}

// alternate runs dnsperf against the pool name and the hosts record in
// turn, runs times each.
func (b *bench) alternate(server string, files map[string]string, runs int, each time.Duration) (map[string][]dnsperfResult, error) {
	fmt.Printf("  %-7s %10s %10s %10s %10s\n", "run", "QPS", "avg ms", "p99~ ms", "max ms")
	results := map[string][]dnsperfResult{}
	for i := range runs {
		for _, kind := range []string{"pool", "static"} {
			r, err := b.dnsperf(server, files[kind], each)
			if err != nil {
				return nil, err
			}
			results[kind] = append(results[kind], r)
			fmt.Printf("  %-7s %10.0f %10.3f %10.3f %10.3f\n", fmt.Sprintf("%s%d", kind, i+1), r.qps, r.avg*1e3, r.p99ish()*1e3, r.max*1e3)
		}
	}
	return results, nil
}

// summarize prints the means of the pool and static runs and their ratio
// against the target.
func summarize(results map[string][]dnsperfResult) {
	mean := func(rs []dnsperfResult, f func(dnsperfResult) float64) (m, lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, r := range rs {
			v := f(r)
			m += v
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		return m / float64(len(rs)), lo, hi
	}
	qps := func(r dnsperfResult) float64 { return r.qps }
	pq, plo, phi := mean(results["pool"], qps)
	sq, slo, shi := mean(results["static"], qps)
	pp, _, _ := mean(results["pool"], dnsperfResult.p99ish)
	sp, _, _ := mean(results["static"], dnsperfResult.p99ish)
	ratio := pq / sq
	fmt.Printf("  pool   mean %.0f QPS (runs %.0f-%.0f), p99~ %.3f ms\n", pq, plo, phi, pp*1e3)
	fmt.Printf("  static mean %.0f QPS (runs %.0f-%.0f), p99~ %.3f ms\n", sq, slo, shi, sp*1e3)
	fmt.Printf("  ratio pool/static QPS %.3f (noise band %.3f-%.3f)  target >= 1.00: %s\n", ratio, plo/shi, phi/slo, verdict(ratio >= 1))
}
