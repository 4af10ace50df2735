//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/internal/proc"
	"github.com/failover-dns/failover/internal/loopback"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// bench is the set-up both phases share.
type bench struct {
	o      options
	dir    string
	binary string
	etcd   *etcdtest.Server
	estate *estateBackend
	pair   *killPair
}

// replica is one CoreDNS of a phase.
type replica struct {
	*proc.CoreDNS
	metricsURL, pprofURL string
}

// profile saves a 10 s CPU profile of r as DIR/fleet-PHASE-cpu.pprof, if
// profiles were asked for. It is taken after a window, which it would skew.
func (b *bench) profile(r *replica, phase string) error {
	if b.o.profiles == "" {
		return nil
	}
	resp, err := http.Get(r.pprofURL + "/profile?seconds=10")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	file := filepath.Join(b.o.profiles, "fleet-"+phase+"-cpu.pprof")
	fmt.Printf("[%s] (CPU profile of replica %s saved: %s)\n", phase, r.Name, file)
	return os.WriteFile(file, data, 0o644)
}

// startReplicas starts the three replicas one after another, in a fleet
// or each on its own.
func (b *bench) startReplicas(fleet bool) ([]*replica, error) {
	endpoint, phase := "", "alone"
	if fleet {
		endpoint, phase = b.etcd.Endpoint(), "fleet"
	}
	var rs []*replica
	for _, m := range members {
		free, err := loopback.FreePorts(3)
		if err != nil {
			stopAll(rs)
			return nil, err
		}
		ports := replicaPorts{dns: free[0], metrics: free[1], pprof: free[2]}
		cf := corefile(m, endpoint, ports, b.o, b.estate.port(), b.pair.port)
		c, err := proc.Start(m, b.binary, filepath.Join(b.dir, phase, m), cf, proc.Addr(ports.dns), nil)
		if err != nil {
			stopAll(rs)
			return nil, err
		}
		rs = append(rs, &replica{CoreDNS: c,
			metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports.metrics),
			pprofURL:   fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", ports.pprof)})
	}
	return rs, nil
}

// stopAll stops the replicas at once (SIGTERM: fleet members leave).
func stopAll(rs []*replica) {
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { r.Stop() })
	}
	wg.Wait()
}

// steady is one steady-state window of a phase.
type steady struct {
	window time.Duration
	probes float64   // per second, fleet-wide: connections the estate's backend accepted
	cpu    []float64 // per replica, in cores (utime + stime)
	rss    []float64 // per replica, MB, at the window's end
}

// measure counts the estate's probes and the replicas' CPU over a window.
func (b *bench) measure(rs []*replica) (steady, error) {
	cpu0 := make([]float64, len(rs))
	for i, r := range rs {
		c, err := cpuSeconds(r.PID())
		if err != nil {
			return steady{}, err
		}
		cpu0[i] = c
	}
	a0, t0 := b.estate.accepted.Load(), time.Now()
	time.Sleep(b.o.window)
	a1, d := b.estate.accepted.Load(), time.Since(t0)
	s := steady{window: d, probes: float64(a1-a0) / d.Seconds()}
	for i, r := range rs {
		c, err := cpuSeconds(r.PID())
		if err != nil {
			return steady{}, err
		}
		s.cpu = append(s.cpu, (c-cpu0[i])/d.Seconds())
		s.rss = append(s.rss, rssMB(r.PID()))
	}
	for _, r := range rs {
		if r.Exited() {
			return steady{}, fmt.Errorf("replica %s exited during the window: %s", r.Name, r.Tail(2000))
		}
	}
	return s, nil
}

// independent measures the three replicas each on its own.
func (b *bench) independent() (steady, error) {
	fmt.Printf("\n[alone] starting three replicas without a fleet\n")
	rs, err := b.startReplicas(false)
	if err != nil {
		return steady{}, err
	}
	defer stopAll(rs)
	// Every target's first round comes within min(interval, 5s) of its
	// replica's start; the steady rate follows.
	time.Sleep(min(b.o.interval, 5*time.Second) + estateTimeout + time.Second)
	s, err := b.measure(rs)
	if err != nil {
		return steady{}, err
	}
	fmt.Printf("[alone] %s\n", s)
	return s, b.profile(rs[0], "alone")
}

// fleetResult is what the fleet phase measured.
type fleetResult struct {
	join    joinCost
	steady  steady
	writes  etcdtest.Writes // over steady.window
	rpcs    map[string]int64
	gauges  []map[string]float64 // per replica, after the window
	kills   []killRound
	failed  []error // kill rounds that did not complete
	verdict int     // verdict keys in etcd once settled
	changes string  // what the verdicts written in the window changed
	// byMember counts the verdicts in etcd by member after the window.
	byMember map[string]int
}

// joinCost is what forming the fleet cost etcd.
type joinCost struct {
	took   time.Duration // first start to settled
	writes etcdtest.Writes
}

// fleet measures the three replicas in one fleet: the join, the steady
// state, then the kills.
func (b *bench) fleet() (fleetResult, error) {
	var res fleetResult
	fmt.Printf("\n[fleet] starting three replicas in one fleet (probers %d)\n", probers)
	w0, err := etcdtest.ReadWrites()
	if err != nil {
		return res, err
	}
	start := time.Now()
	rs, err := b.startReplicas(true)
	if err != nil {
		return res, err
	}
	defer stopAll(rs)
	if res.verdict, err = b.settle(); err != nil {
		return res, err
	}
	w1, _ := etcdtest.ReadWrites()
	res.join = joinCost{took: time.Since(start), writes: w1.Sub(w0)}
	fmt.Printf("[fleet] join settled after %s (%d verdicts in etcd): %s\n", res.join.took.Round(100*time.Millisecond), res.verdict, writesString(res.join.writes, 0))
	if err := b.fleetSteady(rs, &res); err != nil {
		return res, err
	}
	if err := b.profile(rs[0], "fleet"); err != nil {
		return res, err
	}
	res.kills, res.failed = b.killRounds(rs)
	return res, nil
}

// fleetSteady measures the settled fleet: probes, CPU, etcd's writes and
// requests and what the writes changed; then who probes what.
func (b *bench) fleetSteady(rs []*replica, res *fleetResult) error {
	client, err := b.etcd.Client()
	if err != nil {
		return err
	}
	changes := watchChanges(client)
	time.Sleep(time.Second) // the watch's own request, before the window
	rpc0 := b.etcd.RPCs()
	w0, _ := etcdtest.ReadWrites()
	if res.steady, err = b.measure(rs); err != nil {
		return err
	}
	w1, _ := etcdtest.ReadWrites()
	res.writes, res.rpcs = w1.Sub(w0), subRPCs(b.etcd.RPCs(), rpc0)
	res.changes = changes.stop()
	fmt.Printf("[fleet] %s\n", res.steady)
	fmt.Printf("[fleet] etcd over the window: %s\n", writesString(res.writes, res.steady.window))
	fmt.Printf("[fleet] etcd requests over the window: %s\n", rpcString(res.rpcs, res.steady.window))
	fmt.Printf("[fleet] verdicts written over the window (a watch with the previous values): %s\n", res.changes)
	if res.byMember, err = verdictsByMember(client); err != nil {
		return err
	}
	for _, r := range rs {
		g, err := proc.Scrape(r.metricsURL, gaugeNames...)
		if err != nil {
			return err
		}
		res.gauges = append(res.gauges, g)
	}
	fmt.Printf("[fleet] %s\n", probedString(res.byMember, res.gauges))
	return nil
}

var gaugeNames = []string{
	"coredns_failover_fleet_members", "coredns_failover_fleet_targets_probed",
	"coredns_failover_fleet_verdicts_published_total", `coredns_failover_fleet_mode{mode="fleet"}`,
}

// settle waits until the fleet has formed: three members in etcd, every
// target's two verdicts published, and no verdict written for 5 s. It
// returns the verdicts' count.
func (b *bench) settle() (int, error) {
	client, err := b.etcd.Client()
	if err != nil {
		return 0, err
	}
	want := int64(probers * (b.o.targets + 2)) // the kill pair's two targets too
	// count counts the member keys (suffix "/live") or the verdicts
	// (infix "/v/") under the default prefix (see the README's key layout).
	count := func(what string) int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Get(ctx, memberSpace, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return -1
		}
		var n int64
		for _, kv := range resp.Kvs {
			if what == "members" && strings.HasSuffix(string(kv.Key), "/live") || what == "verdicts" && strings.Contains(string(kv.Key), "/v/") {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(3 * time.Minute)
	var quiet time.Time
	var last float64
	for {
		w, _ := etcdtest.ReadWrites()
		live, verdicts := count("members"), count("verdicts")
		switch {
		case live != int64(len(members)) || verdicts != want || w.Puts+w.Deletes != last:
			quiet = time.Time{}
		case quiet.IsZero():
			quiet = time.Now()
		case time.Since(quiet) >= 5*time.Second:
			return int(verdicts), nil
		}
		last = w.Puts + w.Deletes
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the fleet did not settle within 3m: %d members, %d verdicts of %d", live, verdicts, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (s steady) String() string {
	var cpu, rss []string
	for i := range s.cpu {
		cpu = append(cpu, fmt.Sprintf("%.3f", s.cpu[i]))
		rss = append(rss, fmt.Sprintf("%.0f", s.rss[i]))
	}
	return fmt.Sprintf("over %s: %.0f probes/s fleet-wide at the backend; CPU per replica %s cores; RSS %s MB",
		s.window.Round(100*time.Millisecond), s.probes, strings.Join(cpu, " "), strings.Join(rss, " "))
}

func (s steady) meanCPU() float64 {
	t := 0.0
	for _, c := range s.cpu {
		t += c
	}
	return t / float64(len(s.cpu))
}

// writesString shows etcd's write counters: per second over d, or totals
// when d is 0.
func writesString(w etcdtest.Writes, d time.Duration) string {
	f := func(v float64) string {
		if d == 0 {
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		return fmt.Sprintf("%.2f/s", v/d.Seconds())
	}
	return fmt.Sprintf("puts %s, deletes %s, txns %s, raft proposals %s, lease grants %s, renewals %s, revokes %s",
		f(w.Puts), f(w.Deletes), f(w.Txns), f(w.Proposals), f(w.LeaseGrants), f(w.LeaseRenewals), f(w.LeaseRevokes))
}

func subRPCs(now, before map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range now {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func rpcString(rpcs map[string]int64, d time.Duration) string {
	if len(rpcs) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(rpcs) {
		parts = append(parts, fmt.Sprintf("%s %d (%.2f/s)", k, rpcs[k], float64(rpcs[k])/d.Seconds()))
	}
	return strings.Join(parts, ", ")
}

// probedString shows, for each member, the targets it probes by its
// verdicts in etcd beside what its own gauges say.
func probedString(byMember map[string]int, gauges []map[string]float64) string {
	var parts []string
	for i, g := range gauges {
		m := members[i]
		note := ""
		if g[gaugeNames[1]] != float64(byMember[m]) {
			note = " (STALE)"
		}
		parts = append(parts, fmt.Sprintf("%s %d (gauges: targets_probed %g%s, members %g, mode fleet %g, verdicts published %g)",
			m, byMember[m], g[gaugeNames[1]], note, g[gaugeNames[0]], g[gaugeNames[3]], g[gaugeNames[2]]))
	}
	return "targets probed, by each member's verdicts in etcd: " + strings.Join(parts, "; ")
}

// killRound is one kill of the pair's primary: when each replica's answer
// moved to the secondary, and back after the primary's return.
type killRound struct{ moved, back []time.Duration }

// killRounds kills the pair's primary b.o.kills times at a random phase
// and times, for each replica, its answer's move and return.
func (b *bench) killRounds(rs []*replica) ([]killRound, []error) {
	fmt.Printf("[fleet] %d kills of %s's primary %s (http check every %s, fall 2, rise 2, watch on); every replica polled every 2 ms over UDP\n",
		b.o.kills, killName, killPrimary, killInterval)
	var rounds []killRound
	var failed []error
	for i := range b.o.kills {
		if _, err := waitAll(rs, killPrimary, 20*time.Second); err != nil {
			failed = append(failed, fmt.Errorf("round %d, before: %w", i+1, err))
			continue
		}
		// A scheduled round reopens the connection watch after a
		// recovery; then a random phase of the schedule.
		time.Sleep(2*killInterval + rand.N(killInterval))
		b.pair.primary.stop()
		moved, err := waitAll(rs, killSecondary, 10*time.Second)
		if startErr := b.pair.primary.start(); startErr != nil {
			failed = append(failed, startErr)
			break
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("round %d, failover: %w", i+1, err))
			continue
		}
		back, err := waitAll(rs, killPrimary, 20*time.Second)
		if err != nil {
			failed = append(failed, fmt.Errorf("round %d, failback: %w", i+1, err))
			continue
		}
		rounds = append(rounds, killRound{moved: moved, back: back})
	}
	return rounds, failed
}

// waitAll polls each replica every 2 ms until it answers exactly want for
// killName, and returns when each did, from the call.
func waitAll(rs []*replica, want string, limit time.Duration) ([]time.Duration, error) {
	start := time.Now()
	got := make([]time.Duration, len(rs))
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			var last []string
			var err error
			for time.Since(start) < limit {
				if last, err = r.LookupA(killName); err == nil && len(last) == 1 && last[0] == want {
					got[i] = time.Since(start)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			errs[i] = fmt.Errorf("replica %s answers %v (%v), not %s, after %s", r.Name, last, err, want, limit)
		})
	}
	wg.Wait()
	return got, errors.Join(errs...)
}

// cpuSeconds is a process's CPU time so far (utime + stime), from
// /proc/PID/stat.
func cpuSeconds(pid int) (float64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: utime is
	// [11], stime [12] (fields 14 and 15 of proc(5)), in USER_HZ (100).
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100, nil
}

// rssMB is a process's VmRSS in MB.
func rssMB(pid int) float64 {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
