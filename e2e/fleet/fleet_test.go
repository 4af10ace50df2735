package fleet

import (
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
)

// TestFleetProbesOnceAndAgrees: three replicas in a fleet with probers 2.
// Each backend is probed by two of them, not three; when the primary dies,
// all three move their answers to the secondary within the detection
// bound, within 2 s of each other (the spread itself is a benchmark figure).
func TestFleetProbesOnceAndAgrees(t *testing.T) {
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	rs := start(t, corefile(etcd.Endpoint(), b, fleetOptions{}), replicas.Options{}, "a", "b", "c")
	waitAnswers(t, rs, host(b.primary), 20*time.Second)

	for _, backend := range []*replicas.Backend{b.primary, b.secondary} {
		got := waitProbers(t, backend, 2, 10*time.Second)
		t.Logf("Backend %s probed by %v", backend.Addr(), got)
	}

	b.primary.Close()
	killed := time.Now()
	moved := make([]time.Duration, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			for time.Since(killed) < detection {
				if answer(r, "udp") == host(b.secondary) {
					moved[i] = time.Since(killed)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for i, d := range moved {
		if d == 0 {
			t.Fatalf("Replica %s did not move its answer within %s of the primary's death", rs[i].Name, detection)
		}
	}
	sorted := slices.Clone(moved)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("Answers moved after %v; spread %s", moved, sorted[len(sorted)-1]-sorted[0])
	if spread := sorted[len(sorted)-1] - sorted[0]; spread > 2*time.Second {
		t.Errorf("Replicas moved %s apart (%v), want within 2s", spread, moved)
	}
	waitAnswers(t, rs, host(b.secondary), detection)
}
