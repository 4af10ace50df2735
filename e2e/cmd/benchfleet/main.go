//go:build linux

// Command benchfleet measures a fleet (issue 12): three CoreDNS replicas
// probing the same 10,000 targets, first each on its own, then in one
// fleet through an embedded etcd with two probers per target. It reports
// the fleet-wide probes per second of both (the fleet's target: K/3 of
// the independent replicas'), etcd's writes per second in the fleet's
// steady state (target: lease keep-alives only), and, over repeated kills
// of a backend, how far apart the three replicas move their answers
// (median, p95). It talks only to loopback and bounds every wait. Run it
// through 'make bench' (bench/run.sh), which builds ./coredns.
//
//	cd e2e && go run ./cmd/benchfleet -coredns ../coredns
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"

	"go.etcd.io/etcd/api/v3/version"
)

func main() {
	var o options
	flag.StringVar(&o.binary, "coredns", "../coredns", "CoreDNS binary built with failover (make coredns)")
	flag.IntVar(&o.targets, "targets", 10_000, "targets of the estate, a multiple of 4 (pools of four)")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "probe interval of the estate's targets")
	flag.DurationVar(&o.window, "window", 30*time.Second, "length of each steady-state measurement")
	flag.IntVar(&o.kills, "kills", 20, "backend kills for the agreement figure")
	flag.StringVar(&o.profiles, "profiles", "", "directory for a CPU profile of replica a after each window (fleet-alone-cpu.pprof, fleet-fleet-cpu.pprof)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-fleet:", err)
		os.Exit(1)
	}
}

type options struct {
	binary   string
	targets  int
	interval time.Duration
	window   time.Duration
	kills    int
	profiles string
}

// probers is K, the fleet's probers per target.
const probers = 2

// members are the replicas' names.
var members = []string{"a", "b", "c"}

func run(o options) error {
	if o.targets <= 0 || o.targets%targetsPerPool != 0 {
		return fmt.Errorf("-targets %d: want a positive multiple of %d", o.targets, targetsPerPool)
	}
	if o.profiles != "" {
		if err := os.MkdirAll(o.profiles, 0o755); err != nil {
			return err
		}
	}
	start := time.Now()
	raiseFileLimit()
	dir, err := os.MkdirTemp("", "failover-bench-fleet")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	binary, err := filepath.Abs(o.binary)
	if err != nil {
		return err
	}
	etcd, err := etcdtest.Start(filepath.Join(dir, "etcd"), etcdtest.Options{})
	if err != nil {
		return err
	}
	defer etcd.Stop()
	estate, err := newEstateBackend()
	if err != nil {
		return err
	}
	defer estate.close()
	pair, err := newKillPair()
	if err != nil {
		return err
	}
	defer pair.close()
	b := &bench{o: o, dir: dir, binary: binary, etcd: etcd, estate: estate, pair: pair}

	fmt.Printf("Fleet (issue 12): %d replicas x %d targets (pools of %d, tcp check with a greeting every %s, timeout %s, watch off),\n",
		len(members), o.targets, targetsPerPool, o.interval, estateTimeout)
	fmt.Printf("  probers %d, lease %s (the default), etcd %s embedded in this process; steady windows of %s\n",
		probers, fleetLease, version.Version, o.window)
	alone, err := b.independent()
	if err != nil {
		return err
	}
	fleet, err := b.fleet()
	if err != nil {
		return err
	}
	report(alone, fleet, o)
	fmt.Printf("bench-fleet took %s\n", time.Since(start).Round(time.Second))
	return nil
}

// raiseFileLimit lifts this process's descriptor limit to its maximum:
// the estate's backend holds a connection per probe in flight.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
