//go:build linux

package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/failover-dns/failover/internal/loopback"
)

const (
	scaleTargetsPerPool = 4
	scaleHangTargets    = 1000
	scaleHangOctet      = 30 // 127.30/16: the targets whose probes can be made to time out
)

// estate is one scale run: how many targets, probed how, and the targets
// of issue 10 its figures are held against (zero: none).
type estate struct {
	name              string // also names its profiles
	check             string // tcp (with a greeting) or http
	targets           int
	interval, timeout time.Duration
	readyMax          time.Duration
	cpuMax, utimeMax  float64 // cores
	rssPerTargetKB    float64 // RSS target: the baseline plus this per target
	rssMaxMB          float64 // RSS target: this
	latenessMax       time.Duration
	hang              bool // then 1,000 probes time out: query p99 unchanged
	delivered         bool // every check reaches the backend, no target goes down
	degraded          bool // more targets than the watch's budget: some go unwatched
}

var estates = []estate{
	{name: "tcp10k", check: "tcp", targets: 10_000, interval: time.Second, timeout: 500 * time.Millisecond,
		readyMax: 6 * time.Second, cpuMax: .5, utimeMax: .12, rssPerTargetKB: 6, latenessMax: 50 * time.Millisecond, hang: true},
	{name: "http10k", check: "http", targets: 10_000, interval: time.Second, timeout: 500 * time.Millisecond,
		cpuMax: .6, rssMaxMB: 160},
	{name: "tcp100k", check: "tcp", targets: 100_000, interval: 10 * time.Second, timeout: 500 * time.Millisecond,
		cpuMax: .5, rssPerTargetKB: 6, latenessMax: 100 * time.Millisecond, degraded: true},
	{name: "http20k", check: "http", targets: 20_000, interval: 10 * time.Second, timeout: 500 * time.Millisecond,
		cpuMax: .4, rssMaxMB: 250, delivered: true},
}

func (e estate) pools() int { return e.targets / scaleTargetsPerPool }

// settle is the wait after Ready before measuring: a whole interval for
// slow schedules, so that every target is past its first round.
func (e estate) settle() time.Duration { return max(3*time.Second, e.interval) }

// window is how long CPU, lateness and checks are measured: at least two
// intervals.
func (e estate) window() time.Duration { return max(10*time.Second, 2*e.interval) }

// scaleTarget is the address of target i: 127.20.0.1 on, 250 a /24; with
// hang, the first scaleHangTargets in 127.30/16 instead.
func scaleTarget(i int, hang bool) string {
	if hang && i < scaleHangTargets {
		return fmt.Sprintf("127.%d.%d.%d", scaleHangOctet, i/250, i%250+1)
	}
	return fmt.Sprintf("127.%d.%d.%d", 20+i/62500, i/250%250, i%250+1)
}

func poolName(p int) string { return fmt.Sprintf("p%05d.example.org", p) }

// scale measures CoreDNS without pools (the RSS baseline), then each
// estate named in only (all if empty) in turn, with CPU and heap profiles
// in profileDir. targets, if not 0, replaces every estate's own count.
func (b *bench) scale(profileDir, only string, targets int) error {
	// Each target may hold a watch connection open in CoreDNS and in the
	// backend here: both need more descriptors than the usual 1024.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	fmt.Printf("Scale: descriptor limit %d for CoreDNS and for this process (the backend); CoreDNS watches at most %d connections\n", lim.Cur, lim.Cur/2)
	base, err := b.baselineRSS()
	if err != nil {
		return err
	}
	fmt.Printf("Baseline: CoreDNS with the same plugins (bind, ready, prometheus, pprof) and no failover pools: %s\n", base)
	for _, e := range estates {
		if only != "" && !strings.Contains(","+only+",", ","+e.name+",") {
			continue
		}
		if targets > 0 {
			e.targets = targets
		}
		fmt.Println()
		if err := b.scaleEstate(e, base.rss, profileDir); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	return nil
}

// scaleRun is CoreDNS probing one estate.
type scaleRun struct {
	c                              *coredns
	readyURL, metricsURL, pprofURL string
	ready                          time.Duration // start to Ready
}

// corefile is CoreDNS's configuration for e: pools of four targets, or no
// failover at all when e has no targets (the baseline).
func corefile(e estate, dnsPort, readyPort, metricsPort, pprofPort, backendPort int) string {
	var cf strings.Builder
	fmt.Fprintf(&cf, ".:%d {\n    bind 127.0.0.1\n    ready 127.0.0.1:%d\n    prometheus 127.0.0.1:%d\n    pprof 127.0.0.1:%d\n",
		dnsPort, readyPort, metricsPort, pprofPort)
	if e.targets == 0 {
		cf.WriteString("}\n")
		return cf.String()
	}
	cf.WriteString("    failover example.org {\n")
	for p := range e.pools() {
		fmt.Fprintf(&cf, "        pool %s {\n", poolName(p))
		for t := range scaleTargetsPerPool {
			fmt.Fprintf(&cf, "            target %s priority %d\n", scaleTarget(p*scaleTargetsPerPool+t, e.hang), t+1)
		}
		if e.check == "http" {
			fmt.Fprintf(&cf, "            check http://%s:%d/health\n", poolName(p), backendPort)
		} else {
			fmt.Fprintf(&cf, "            check tcp://%s:%d {\n                expect ok\n            }\n", poolName(p), backendPort)
		}
		fmt.Fprintf(&cf, "            interval %s\n            timeout %s\n        }\n", e.interval, e.timeout)
	}
	cf.WriteString("    }\n}\n")
	return cf.String()
}

// startScale starts CoreDNS for e and waits until it is Ready.
func (b *bench) startScale(e estate, backendPort int) (*scaleRun, error) {
	ports, err := loopback.FreePorts(4)
	if err != nil {
		return nil, err
	}
	cf := corefile(e, ports[0], ports[1], ports[2], ports[3], backendPort)
	r := &scaleRun{
		readyURL:   fmt.Sprintf("http://127.0.0.1:%d/ready", ports[1]),
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]),
		pprofURL:   fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", ports[3]),
	}
	start := time.Now()
	if r.c, err = b.startCoreDNS(cf, ports[0]); err != nil {
		return nil, err
	}
	for {
		if resp, err := http.Get(r.readyURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 120*time.Second {
			r.c.stop()
			return nil, fmt.Errorf("not ready after 120s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.ready = time.Since(start)
	return r, nil
}

// baselineRSS is the RSS of CoreDNS with the same plugins and no pools,
// after it served a scrape of its metrics as the measured runs do.
func (b *bench) baselineRSS() (memory, error) {
	r, err := b.startScale(estate{}, 0)
	if err != nil {
		return memory{}, err
	}
	defer r.c.stop()
	time.Sleep(3 * time.Second)
	if _, err := scrape(r.metricsURL); err != nil {
		return memory{}, err
	}
	time.Sleep(time.Second)
	return readMemory(r.c.pid()), nil
}

// profile saves a CPU profile (10 s) and a heap profile of CoreDNS. They
// are taken after the measurement, which they would skew.
func (r *scaleRun) profile(dir, name string) error {
	if dir == "" {
		return nil
	}
	if err := fetch(r.pprofURL+"/profile?seconds=10", filepath.Join(dir, "scale-"+name+"-cpu.pprof")); err != nil {
		return err
	}
	return fetch(r.pprofURL+"/heap", filepath.Join(dir, "scale-"+name+"-heap.pprof"))
}
