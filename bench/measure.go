//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// window is what one measurement of a scale run saw.
type window struct {
	d                   time.Duration
	user, sys, total    float64 // CoreDNS's CPU, in cores
	mem                 memory  // CoreDNS's, after the scrapes
	memQuiet            memory  // CoreDNS's, after the CPU window, before any scrape of the measurement
	m0, m1              metrics // scrapes before and after
	scrapeErr           error   // the second scrape failed: no metrics
	sinceStart          bool    // the first scrape failed: m0 is zero, the figures count from start-up
	accepted, requests  uint64  // at the backend, in the window
	open, peak          int64   // backend connections held at the end, and at most
	fds                 int     // this process's descriptors at the end
	benchUser, benchSys float64 // this process's CPU (the backend), in cores
}

// scaleEstate probes estate e, measures it against its targets and saves
// its profiles; with e.hang, measures it again with 1,000 probes timing out.
func (b *bench) scaleEstate(e estate, base float64, dir string) error {
	be, err := newScaleBackend(e.check)
	if err != nil {
		return err
	}
	defer be.close()
	r, err := b.startScale(e, be.port())
	if err != nil {
		return err
	}
	defer r.c.stop()
	what := "tcp check with a greeting"
	if e.check == "http" {
		what = "http check (GET, a Go HTTP server in the bench process)"
	}
	fmt.Printf("Scale %s: %d pools x %d = %d targets, %s every %s (timeout %s), connection watch on\n",
		e.name, e.pools(), scaleTargetsPerPool, e.targets, what, e.interval, e.timeout)
	fmt.Printf("  start-up to Ready: %s%s\n", r.ready.Round(time.Millisecond), target(e.readyMax > 0, r.ready < e.readyMax, fmt.Sprintf("< %s", e.readyMax)))
	w, err := r.measure(e, be)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, r.c.logTail())
	}
	r.report(e, w, base, "steady", true)
	if err := r.profile(dir, e.name); err != nil {
		return err
	}
	if e.hang {
		return r.hangPhase(e, be, base)
	}
	return nil
}

// target formats a verdict against a target, if the figure has one.
func target(has, ok bool, what string) string {
	if !has {
		return ""
	}
	return fmt.Sprintf("  target %s: %s", what, verdict(ok))
}

// measure waits for the schedule to settle, then measures CoreDNS's CPU
// over e.window() with no scrape of /metrics in or just before it (with
// 100,000 targets a scrape and the garbage it leaves are work of their
// own), then probe lateness and rounds over a second window, between two
// scrapes. RSS is read after the second scrape, as Prometheus would leave it.
func (r *scaleRun) measure(e estate, be *scaleBackend) (window, error) {
	var w window
	time.Sleep(e.settle())
	c0, err := readCPU(r.c.pid())
	if err != nil {
		return w, err
	}
	s0, _ := readCPU(os.Getpid())
	a0, q0, t0 := be.accepted.Load(), be.requests.Load(), time.Now()
	time.Sleep(e.window())
	c1, err := readCPU(r.c.pid())
	if err != nil {
		return w, err
	}
	s1, _ := readCPU(os.Getpid())
	w.d = time.Since(t0)
	w.accepted, w.requests = be.accepted.Load()-a0, be.requests.Load()-q0
	w.user, w.sys, w.total = c1.cores(c0, w.d)
	w.benchUser, w.benchSys, _ = s1.cores(s0, w.d)
	w.memQuiet = readMemory(r.c.pid())
	w.open, w.peak, w.fds = be.open.Load(), be.peak.Load(), openFiles()
	if w.m0, err = scrape(r.metricsURL); err != nil {
		w.sinceStart, w.m0 = true, metrics{}
	}
	time.Sleep(e.window())
	w.m1, w.scrapeErr = scrape(r.metricsURL)
	w.mem = readMemory(r.c.pid())
	return w, nil
}

// report prints a measurement; with targets, against its CPU and RSS
// targets too.
func (r *scaleRun) report(e estate, w window, base float64, label string, targets bool) {
	p := "  [" + label + "] "
	fmt.Printf("%sCoreDNS CPU %.3f of one core (utime %.3f + stime %.3f, /proc/PID/stat) over %s, no scrape in it%s\n", p, w.total, w.user, w.sys,
		w.d.Round(time.Millisecond), target(targets && e.cpuMax > 0, w.total <= e.cpuMax, fmt.Sprintf("<= %.2f", e.cpuMax)))
	if targets && e.utimeMax > 0 {
		fmt.Printf("%sCoreDNS utime %.3f of one core  target <= %.2f: %s\n", p, w.user, e.utimeMax, verdict(w.user <= e.utimeMax))
	}
	limit, how := e.rssMaxMB, fmt.Sprintf("< %.0f MB", e.rssMaxMB)
	if e.rssPerTargetKB > 0 {
		limit = base + e.rssPerTargetKB*float64(e.targets)/1024
		how = fmt.Sprintf("<= baseline %.1f MB + %g KB x %d = %.0f MB", base, e.rssPerTargetKB, e.targets, limit)
	}
	goStats := fmt.Sprintf("Go heap in use %.0f MB, stacks %.0f MB; goroutines %.0f", w.m1.heapInuseMB, w.m1.stackMB, w.m1.goroutines)
	if w.scrapeErr != nil {
		goStats = "Go heap, stacks and goroutines unknown"
	}
	fmt.Printf("%s%s after two scrapes of /metrics (%.1f MB before them); %s%s\n", p, w.mem, w.memQuiet.rss, goStats,
		target(targets && limit > 0, w.mem.rss <= limit, how))
	r.reportProbes(e, w, p)
	sec := w.d.Seconds()
	fmt.Printf("%sbackend (this process): %.0f connections/s, %.0f HTTP requests/s; %d connections held (peak %d), %d descriptors open of the limit; CPU %.3f (utime %.3f + stime %.3f)\n",
		p, float64(w.accepted)/sec, float64(w.requests)/sec, w.open, w.peak, w.fds, w.benchUser+w.benchSys, w.benchUser, w.benchSys)
	if targets && e.degraded {
		fmt.Printf("  watch degraded by the descriptor limit: coredns_failover_unwatched_targets %s of %d targets\n", known(w, w.m1.unwatched), e.targets)
		fmt.Printf("  backend descriptors: peak %d connections held (%d descriptors open at the end)  target within this process's limit of %d: %s\n",
			w.peak, w.fds, fileLimit(), verdict(uint64(w.peak)+uint64(w.fds-int(w.open)) < fileLimit()))
	}
	if targets && e.delivered {
		r.reportDelivered(e, w)
	}
}

// span says what the differences between the scrapes cover.
func (w window) span() string {
	if w.sinceStart {
		return "since start-up (the first scrape failed)"
	}
	return fmt.Sprintf("in the %.1fs between the scrapes", w.m1.at.Sub(w.m0.at).Seconds())
}

// known formats a figure from the second scrape, if it was read.
func known(w window, v float64) string {
	if w.scrapeErr != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.0f", v)
}

// reportProbes prints what CoreDNS's metrics say of probing in the window.
func (r *scaleRun) reportProbes(e estate, w window, p string) {
	if w.scrapeErr != nil {
		fmt.Printf("%sprobe lateness, rounds and states unknown: /metrics could not be read (%v)%s\n", p, w.scrapeErr,
			target(e.latenessMax > 0, false, fmt.Sprintf("p99 < %s", e.latenessMax)))
		return
	}
	fmt.Printf("%s/metrics: %.1f MB, served in %s and %s (the window's bounds; 0s: failed)\n", p, float64(w.m1.bytes)/1e6,
		w.m0.took.Round(time.Millisecond), w.m1.took.Round(time.Millisecond))
	late := w.m1.lateness
	p99 := late.quantileSeconds(w.m0.lateness, .99)
	fmt.Printf("%sprobe lateness p50 <= %s, p99 <= %s (bucket bounds; p99 interpolated %.1fms) over %.0f rounds %s%s\n", p,
		late.quantile(w.m0.lateness, .5), late.quantile(w.m0.lateness, .99), 1000*late.interpolated(w.m0.lateness, .99),
		late.count-w.m0.lateness.count, w.span(), target(e.latenessMax > 0, p99 <= e.latenessMax.Seconds(), fmt.Sprintf("p99 < %s", e.latenessMax)))
	// Counts, not rates: the scrapes' window is no whole number of intervals,
	// and with a 10 s interval the rounds may bunch (first rounds are spread
	// over 5 s only).
	fmt.Printf("%sprobe rounds %s: %.0f passed, %.0f failed; unwatched targets %.0f; targets down %d, transitions to down since start %.0f\n",
		p, w.span(), w.m1.probesOK-w.m0.probesOK, w.m1.probesFailed-w.m0.probesFailed,
		w.m1.unwatched, w.m1.targetsDown, w.m1.transitionsDown)
}

// reportDelivered holds the checks that reached the backend against the
// schedule: every target once an interval, none lost, none marked down.
func (r *scaleRun) reportDelivered(e estate, w window) {
	want := float64(e.targets) / e.interval.Seconds()
	got := float64(w.requests) / w.d.Seconds()
	failed := w.m1.probesFailed - w.m0.probesFailed
	if w.scrapeErr != nil {
		failed = math.NaN()
	}
	fmt.Printf("  checks delivered: %.0f/s at the backend over %s vs %.0f/s expected (targets / interval)  target every check (>= 97%% of expected, for the schedule's jitter): %s\n",
		got, w.d.Round(time.Millisecond), want, verdict(got >= .97*want))
	fmt.Printf("  failed probe rounds %s: %.0f  target none: %s\n", w.span(), failed, verdict(failed == 0))
	fmt.Printf("  targets marked down: %d series of coredns_failover_target_up at 0, %.0f transitions_total{to=\"down\"}  target none: %s\n",
		w.m1.targetsDown, w.m1.transitionsDown, verdict(w.scrapeErr == nil && w.m1.targetsDown == 0 && w.m1.transitionsDown == 0))
}

// hangPhase measures query latency, then stops the greeting of 1,000
// targets so that their probes time out, and measures again.
func (r *scaleRun) hangPhase(e estate, be *scaleBackend, base float64) error {
	steady, err := queryLatency(r.c.addr, e.pools(), 1000, 10*time.Second)
	if err != nil {
		return err
	}
	printQueries("steady", steady)
	be.hang.Store(true)
	name := fmt.Sprintf("%d probes timing out", scaleHangTargets)
	w, err := r.measure(e, be)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, r.c.logTail())
	}
	r.report(e, w, base, name, false)
	hung, err := queryLatency(r.c.addr, e.pools(), 1000, 10*time.Second)
	if err != nil {
		return err
	}
	printQueries(name, hung)
	ratio := float64(quantile(hung, .99)) / float64(quantile(steady, .99))
	fmt.Printf("  query p99 with %d probes timing out / steady: %.2f  target unchanged within noise (<= 1.5): %s\n", scaleHangTargets, ratio, verdict(ratio <= 1.5))
	return nil
}

func printQueries(label string, lat []time.Duration) {
	fmt.Printf("  [%s] queries at 1000/s for 10s: p50 %s p99 %s max %s\n", label,
		quantile(lat, .5).Round(time.Microsecond), quantile(lat, .99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
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
				m.SetQuestion(poolName(i%pools)+".", dns.TypeA)
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
