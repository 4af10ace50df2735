//go:build linux

package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// spreadTarget is the goal for how far apart the replicas move.
const spreadTarget = 250 * time.Millisecond

// report prints the figures beside their targets.
func report(alone steady, f fleetResult, o options) {
	fmt.Printf("\nFleet figures (%d replicas x %d targets every %s, probers %d):\n", len(members), o.targets, o.interval, probers)
	perReplica := float64(o.targets) / o.interval.Seconds()
	ratio := f.steady.probes / alone.probes
	want := float64(probers) / float64(len(members))
	fmt.Printf("  probes/s fleet-wide: alone %.0f (expected %.0f), fleet %.0f (expected %.0f)\n",
		alone.probes, perReplica*float64(len(members)), f.steady.probes, perReplica*probers)
	fmt.Printf("  ratio fleet/alone %.3f  target K/3 = %.3f (within 5%%): %s\n", ratio, want, verdict(ratio <= want*1.05 && ratio >= want*0.95))
	fmt.Printf("  CPU per replica (mean): alone %.3f, fleet %.3f cores, ratio %.2f\n", alone.meanCPU(), f.steady.meanCPU(), f.steady.meanCPU()/alone.meanCPU())
	w, d := f.writes, f.steady.window.Seconds()
	writes := w.Puts + w.Deletes + w.Txns
	fmt.Printf("  etcd in the steady state: %.2f puts/s, %.2f deletes/s, %.2f txns/s, %.2f lease renewals/s (keep-alives %.2f/s)  target keep-alives only: %s\n",
		w.Puts/d, w.Deletes/d, w.Txns/d, w.LeaseRenewals/d, float64(f.rpcs["LeaseKeepAlive"])/d, verdict(writes == 0 && w.LeaseRenewals > 0))
	fmt.Printf("  joining (three members, %d targets): %.0f puts, %.0f deletes, %.0f txns in %s\n",
		o.targets+2, f.join.writes.Puts, f.join.writes.Deletes, f.join.writes.Txns, f.join.took.Round(100*time.Millisecond))
	if len(f.kills) == 0 {
		fmt.Printf("  agreement after a kill: no round completed (%v)  target spread <= %s: MISSED\n", f.failed, spreadTarget)
		return
	}
	var first, last, spread, backFirst, backSpread []time.Duration
	for _, k := range f.kills {
		first = append(first, slices.Min(k.moved))
		last = append(last, slices.Max(k.moved))
		spread = append(spread, slices.Max(k.moved)-slices.Min(k.moved))
		backFirst = append(backFirst, slices.Min(k.back))
		backSpread = append(backSpread, slices.Max(k.back)-slices.Min(k.back))
	}
	fmt.Printf("  backend killed, first replica's answer moved: %s\n", summary(first))
	fmt.Printf("  backend killed, last replica's answer moved (all agree): %s\n", summary(last))
	fmt.Printf("  backend killed, spread first to last replica: %s  target <= %s: %s\n",
		summary(spread), spreadTarget, verdict(quantile(sorted(spread), .95) <= spreadTarget))
	fmt.Printf("    (spreads: %s)\n", list(spread))
	fmt.Printf("  backend back, first replica's answer returned: %s\n", summary(backFirst))
	fmt.Printf("  backend back, spread first to last replica: %s\n", summary(backSpread))
	fmt.Printf("    (spreads: %s)\n", list(backSpread))
	if len(f.failed) > 0 {
		fmt.Printf("  rounds that did not complete: %d: %v\n", len(f.failed), f.failed)
	}
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}

func sorted(ds []time.Duration) []time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

func summary(ds []time.Duration) string {
	s := sorted(ds)
	return fmt.Sprintf("median %s  p95 %s  max %s  (n=%d)", round(quantile(s, .5)), round(quantile(s, .95)), round(s[len(s)-1]), len(s))
}

func list(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, round(d).String())
	}
	return strings.Join(out, " ")
}

func round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), cmp.Compare[string])
}
