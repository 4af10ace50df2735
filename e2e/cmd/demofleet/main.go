// Command demofleet runs three CoreDNS replicas with failover in one
// fleet, sharing their probing through an embedded etcd, in front of three
// local HTTP backends; it shows a failover and a failback seen alike by
// every replica, a replica's death and return, then lets you stop and
// start backends and kill replicas by hand (or exits, with -once).
//
//	make demo-fleet    # cd e2e && go run ./cmd/demofleet -coredns ../coredns
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/failover-dns/failover/internal/demobackend"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/internal/proc"
	"github.com/failover-dns/failover/internal/loopback"
)

const (
	name  = "www.example.org"
	lease = 2 * time.Second
	// limit bounds every wait of the scripted part.
	limit = 20 * time.Second
)

var (
	members = []string{"a", "b", "c"}
)

func main() {
	var o options
	flag.StringVar(&o.binary, "coredns", "../coredns", "CoreDNS binary built with failover (make coredns)")
	flag.IntVar(&o.dnsPort, "dns-port", 1053, "DNS port of replica a on 127.0.0.1; b and c take the next two; 0 picks free ports")
	flag.BoolVar(&o.once, "once", false, "run the scripted part and exit, without the interactive part")
	flag.BoolVar(&o.verbose, "v", false, "show the replicas' whole logs (default: the fleet's and the targets' lines)")
	flag.Parse()
	o.out, o.in = os.Stdout, os.Stdin
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo-fleet:", err)
		os.Exit(1)
	}
}

type options struct {
	binary  string
	dnsPort int
	once    bool
	verbose bool
	out     io.Writer
	in      io.Reader
}

// demo is the running set-up.
type demo struct {
	o        options
	mu       sync.Mutex // serialises output
	backends []*demobackend.Backend
	replicas []*replica
}

// replica is one CoreDNS of the fleet and its listeners.
type replica struct {
	*proc.CoreDNS
	member                string
	statusURL, metricsURL string
}

func run(ctx context.Context, o options) error {
	d := &demo{o: o}
	backends, httpPort, err := demobackend.StartAll()
	if err != nil {
		return err
	}
	d.backends = backends
	defer func() {
		for _, b := range backends {
			b.Stop()
		}
	}()
	dir, err := os.MkdirTemp("", "failover-demo-fleet")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	etcd, err := etcdtest.Start(filepath.Join(dir, "etcd"), etcdtest.Options{})
	if err != nil {
		return err
	}
	defer etcd.Stop()
	binary, err := filepath.Abs(o.binary)
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range d.replicas {
			r.Stop()
		}
	}()
	if err := d.startReplicas(binary, dir, etcd.Endpoint(), httpPort); err != nil {
		return err
	}
	if err := d.script(ctx); err != nil {
		return err
	}
	if o.once {
		return nil
	}
	return d.interact(ctx)
}

// startReplicas shows what will run and how to reach it, and starts the
// replicas.
func (d *demo) startReplicas(binary, dir, endpoint string, httpPort int) error {
	ports, err := d.ports()
	if err != nil {
		return err
	}
	d.printf("\nCorefile of replica a (b and c differ only in their member name and ports):\n%s\n",
		corefile(members[0], endpoint, ports[0], httpPort))
	d.printf("etcd (embedded, loopback only): %s; demo backends (HTTP, /health) on %s port %d.\n",
		endpoint, strings.Join(demobackend.IPs, ", "), httpPort)
	for i, m := range members {
		p := ports[i]
		d.printf("Replica %s: dig @127.0.0.1 -p %d %s   status page http://127.0.0.1:%d/   metrics http://127.0.0.1:%d/metrics\n",
			m, p.dns, name, p.status, p.metrics)
	}
	d.printf("\n")
	for i, m := range members {
		p := ports[i]
		c, err := proc.Start(m, binary, filepath.Join(dir, m), corefile(m, endpoint, p, httpPort), proc.Addr(p.dns), d.logLine)
		if err != nil {
			return err
		}
		d.replicas = append(d.replicas, &replica{CoreDNS: c, member: m,
			statusURL:  fmt.Sprintf("http://127.0.0.1:%d/", p.status),
			metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", p.metrics)})
	}
	return nil
}

// ports of one replica on 127.0.0.1.
type ports struct{ dns, status, metrics int }

func (d *demo) ports() ([]ports, error) {
	free, err := loopback.FreePorts(3 * len(members))
	if err != nil {
		return nil, err
	}
	out := make([]ports, len(members))
	for i := range out {
		out[i] = ports{dns: free[3*i], status: free[3*i+1], metrics: free[3*i+2]}
		if d.o.dnsPort != 0 {
			out[i].dns = d.o.dnsPort + i
		}
	}
	return out, nil
}

// corefile is replica member's configuration: the demo's pool, in a fleet
// of members on a 2 s lease, with each target probed by two of them.
func corefile(member, endpoint string, p ports, httpPort int) string {
	return fmt.Sprintf(`example.org:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    failover {
        fleet etcd %s {
            member %s
            lease %s
        }
        status 127.0.0.1:%d
        pool www.example.org {
            target 127.0.0.1
            target 127.0.0.2 priority 2
            target 127.0.0.3 priority 3
            check http://www.example.org:%d/health
            interval 1s
            fast_interval 200ms
            timeout 500ms
            rise 2
            fall 2
            ttl 5
        }
    }
}
`, p.dns, p.metrics, endpoint, member, lease, p.status, httpPort)
}

// logLine shows a replica's log line: every line with -v, else what the
// fleet and the targets do (and what went wrong).
func (d *demo) logLine(member, line string) {
	if !d.o.verbose && !interesting(line) {
		return
	}
	d.printf("  %s | %s\n", member, line)
}

func interesting(line string) bool {
	if strings.Contains(line, "[ERROR]") || strings.Contains(line, "[WARNING]") {
		return true
	}
	return strings.Contains(line, "Fleet: ") && !strings.Contains(line, " left")
}

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.o.out, format, args...)
}

// script is the scripted part: the fleet forms, the primary dies and
// returns, a replica dies and returns.
func (d *demo) script(ctx context.Context) error {
	start := time.Now()
	if err := d.waitMembers(ctx, d.replicas, len(members)); err != nil {
		return err
	}
	if err := d.waitVerdicts(ctx, d.replicas[0]); err != nil {
		return err
	}
	d.printf("\nThe fleet formed in %s. Who probes what (two probers each, both must agree), as replica a sees it:\n", since(start))
	d.showProbers(d.replicas[0])

	d.printf("\nAll backends up:\n")
	d.showAnswers()

	probers := probersOf(d.replicas[0], demobackend.IPs[0])
	d.backends[0].Stop()
	d.printf("\nPrimary %s stopped (probed by %s; the third replica hears their verdicts through etcd):\n", demobackend.IPs[0], probers)
	if err := d.showMove(ctx, demobackend.IPs[1]); err != nil {
		return err
	}
	if err := d.backends[0].Start(); err != nil {
		return err
	}
	d.printf("\nPrimary %s back:\n", demobackend.IPs[0])
	if err := d.showMove(ctx, demobackend.IPs[0]); err != nil {
		return err
	}

	c := d.replicas[2]
	c.Kill()
	killed := time.Now()
	d.printf("\nReplica c killed (SIGKILL):\n")
	rest := d.replicas[:2]
	if err := d.waitMembers(ctx, rest, 2); err != nil {
		return err
	}
	d.printf("  a and b saw it leave after %s (its lease: %s) and took over its probing\n", since(killed), lease)
	d.showAnswers()
	restarted := time.Now()
	if err := c.Restart(); err != nil {
		return err
	}
	if err := d.waitMembers(ctx, d.replicas, 3); err != nil {
		return err
	}
	if _, err := d.waitAnswers(ctx, d.replicas, demobackend.IPs[0]); err != nil {
		return err
	}
	d.printf("\nReplica c restarted: back in the fleet after %s\n", since(restarted))
	d.showAnswers()
	d.printf("\nFleet metrics of replica a (%s):\n", d.replicas[0].metricsURL)
	d.showMetrics(d.replicas[0])
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

// answer is r's answer for name: its addresses, or what went wrong.
func answer(r *replica) string {
	if r.Exited() {
		return "(killed)"
	}
	got, err := r.LookupA(name)
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.Join(got, " ")
}

func (d *demo) showAnswers() {
	for _, r := range d.replicas {
		d.printf("  %s  %s A %s\n", r.member, name, answer(r))
	}
}

// showMove waits until every replica answers want and shows when each did,
// and the spread between the first and the last.
func (d *demo) showMove(ctx context.Context, want string) error {
	moved, err := d.waitAnswers(ctx, d.replicas, want)
	if err != nil {
		return err
	}
	for i, r := range d.replicas {
		d.printf("  %s  %s A %s  after %s\n", r.member, name, want, moved[i].Round(time.Millisecond))
	}
	d.printf("  spread between the first and the last replica: %s\n", (slices.Max(moved) - slices.Min(moved)).Round(time.Millisecond))
	return nil
}

// waitAnswers polls each replica every 5 ms until it answers exactly want,
// and returns when each did, from the call.
func (d *demo) waitAnswers(ctx context.Context, rs []*replica, want string) ([]time.Duration, error) {
	start := time.Now()
	moved := make([]time.Duration, len(rs))
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			last := ""
			for time.Since(start) < limit && ctx.Err() == nil {
				if last = answer(r); last == want {
					moved[i] = time.Since(start)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			errs[i] = fmt.Errorf("replica %s answers %q, not %s, after %s", r.member, last, want, limit)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return moved, errors.Join(errs...)
}

// waitMembers waits until every replica of rs counts n live members.
func (d *demo) waitMembers(ctx context.Context, rs []*replica, n int) error {
	deadline := time.Now().Add(limit)
	for _, r := range rs {
		for {
			m, err := proc.Scrape(r.metricsURL, "coredns_failover_fleet_members")
			if err == nil && m["coredns_failover_fleet_members"] == float64(n) {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replica %s does not count %d fleet members after %s (%v, %v)", r.member, n, limit, m, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// fleetMetrics are the gauges the demo shows.
var fleetMetrics = []string{"coredns_failover_fleet_members", "coredns_failover_fleet_targets_probed"}

func (d *demo) showMetrics(r *replica) {
	m, err := proc.Scrape(r.metricsURL, fleetMetrics...)
	if err != nil {
		d.printf("  %v\n", err)
		return
	}
	for _, n := range fleetMetrics {
		d.printf("  %s %g\n", n, m[n])
	}
}

// target is a target as the status API shows it, the part the demo shows.
type target struct {
	Address string `json:"address"`
	State   string `json:"state"`
	Fleet   *struct {
		Probers []prober `json:"probers"`
	} `json:"fleet"`
}

// prober is one of a target's probers and its verdict: up, down, or none.
type prober struct {
	Member string `json:"member"`
	State  string `json:"state"`
}

// targets reads the pool's targets from r's status API.
func targets(r *replica) ([]target, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(r.statusURL + "api/v1/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s struct {
		Pools []struct {
			Targets []target `json:"targets"`
		} `json:"pools"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil || len(s.Pools) == 0 {
		return nil, fmt.Errorf("status unreadable (%s, %v)", resp.Status, err)
	}
	return s.Pools[0].Targets, nil
}

// probersOf names the probers of the target at address, as r sees them.
func probersOf(r *replica, address string) string {
	ts, err := targets(r)
	if err != nil {
		return err.Error()
	}
	for _, t := range ts {
		if t.Address == address && t.Fleet != nil {
			var out []string
			for _, p := range t.Fleet.Probers {
				out = append(out, p.Member)
			}
			return strings.Join(out, " and ")
		}
	}
	return "nobody"
}

// waitVerdicts waits until r sees every target up by the verdicts of all
// its probers.
func (d *demo) waitVerdicts(ctx context.Context, r *replica) error {
	deadline := time.Now().Add(limit)
	for {
		ts, err := targets(r)
		settled := func(t target) bool {
			return t.State == "up" && t.Fleet != nil && len(t.Fleet.Probers) == 2 &&
				!slices.ContainsFunc(t.Fleet.Probers, func(p prober) bool { return p.State != "up" })
		}
		if err == nil && len(ts) == len(demobackend.IPs) && !slices.ContainsFunc(ts, func(t target) bool { return !settled(t) }) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %s does not see every target up by two probers after %s (%v)", r.member, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// showProbers shows each target's probers and their verdicts, as r sees them.
func (d *demo) showProbers(r *replica) {
	ts, err := targets(r)
	if err != nil {
		d.printf("  %v\n", err)
		return
	}
	for _, t := range ts {
		var probers []string
		if t.Fleet != nil {
			for _, p := range t.Fleet.Probers {
				probers = append(probers, p.Member+" says "+p.State)
			}
		}
		d.printf("  %-10s %-4s probed by %s\n", t.Address, t.State, strings.Join(probers, ", "))
	}
}

// interact toggles backends and replicas on command until EOF, q, or Ctrl-C.
func (d *demo) interact(ctx context.Context) error {
	d.printf("\nType 1, 2 or 3 and Enter to stop or start that backend; a, b or c to kill or restart that replica;\n" +
		"p to show who probes what; Enter alone to query every replica; q to quit.\n")
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(d.o.in)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok || line == "q" {
				return nil
			}
			d.command(line)
		}
	}
}

func (d *demo) command(line string) {
	if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(d.backends) {
		b := d.backends[n-1]
		if b.Running() {
			b.Stop()
			d.printf("Stopped backend %s\n", b.Addr)
		} else if err := b.Start(); err != nil {
			d.printf("%v\n", err)
		} else {
			d.printf("Started backend %s\n", b.Addr)
		}
	}
	if i := slices.Index(members, line); i >= 0 {
		r := d.replicas[i]
		if r.Exited() {
			if err := r.Restart(); err != nil {
				d.printf("%v\n", err)
			} else {
				d.printf("Restarted replica %s\n", r.member)
			}
		} else {
			r.Kill()
			d.printf("Killed replica %s (its lease ends within %s)\n", r.member, lease)
		}
	}
	if line == "p" {
		for _, r := range d.replicas {
			if !r.Exited() {
				d.printf("As replica %s sees it:\n", r.member)
				d.showProbers(r)
				break
			}
		}
	}
	for _, r := range d.replicas {
		extra := ""
		if !r.Exited() {
			if m, err := proc.Scrape(r.metricsURL, fleetMetrics...); err == nil {
				extra = fmt.Sprintf("   (sees %g members, probes %g of the %d targets)", m[fleetMetrics[0]], m[fleetMetrics[1]], len(demobackend.IPs))
			}
		}
		d.printf("  %s  %s A %s%s\n", r.member, name, answer(r), extra)
	}
}
