package fleet

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
)

// flips watches replicas' answers in the background, each polled every
// 20 ms over UDP and TCP in turn, and records every answer that is not
// want, until stop.
type flips struct {
	mu   sync.Mutex
	seen []string
	stop chan struct{}
	wg   sync.WaitGroup
}

func watchFlips(rs []*replicas.Replica, want string) *flips {
	f := &flips{stop: make(chan struct{})}
	for _, r := range rs {
		f.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-f.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				proto := []string{"udp", "tcp"}[i%2]
				if got := answer(r, proto); got != want {
					f.mu.Lock()
					f.seen = append(f.seen, r.Name+" over "+proto+": "+got)
					f.mu.Unlock()
				}
			}
		})
	}
	return f
}

// end stops watching and returns what deviated.
func (f *flips) end() []string {
	close(f.stop)
	f.wg.Wait()
	return f.seen
}

// TestFleetReplicaKilled: a replica probing the primary is SIGKILLed. Its
// lease expires, another member takes its place: the primary is probed by
// two live replicas again within lease + interval (and a loose margin),
// and no surviving replica's answer flips meanwhile.
func TestFleetReplicaKilled(t *testing.T) {
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	rs := start(t, corefile(etcd.Endpoint(), b, fleetOptions{}), replicas.Options{}, "a", "b", "c")
	primary := host(b.primary)
	waitAnswers(t, rs, primary, 20*time.Second)
	probers := waitProbers(t, b.primary, 2, 10*time.Second)

	victim := byName(rs, probers[0])
	survivors := without(rs, victim.Name)
	watch := watchFlips(survivors, primary)
	victim.Kill()
	killed := time.Now()
	// The lease (2s) expires, the others see the member key go, the new
	// prober's first round comes within an interval: lease + interval,
	// plus room for a loaded machine.
	limit := lease + interval + 3*time.Second
	var now []string
	for {
		now = probersIn(b.primary, 3*interval)
		if len(now) == 2 && !slices.Contains(now, victim.Name) {
			break
		}
		if time.Since(killed) > limit {
			t.Fatalf("%s after killing %s, the primary is probed by %v, want the two survivors", limit, victim.Name, now)
		}
	}
	t.Logf("Killed %s (a prober of the primary); %v probe it again %s later", victim.Name, now, time.Since(killed).Round(10*time.Millisecond))
	holdAnswers(t, survivors, primary, 2*time.Second)
	if seen := watch.end(); len(seen) > 0 {
		t.Errorf("Answers flipped while the killed replica's targets moved: %v", seen)
	}
}

// TestFleetEtcdLost: etcd stops. Within the lease, every replica switches
// to local mode (probes everything itself) and still fails over when the
// primary dies; when etcd is back, they rejoin and each backend is probed
// by two replicas again.
func TestFleetEtcdLost(t *testing.T) {
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	rs := start(t, corefile(etcd.Endpoint(), b, fleetOptions{}), replicas.Options{}, "a", "b", "c")
	primary, secondary := host(b.primary), host(b.secondary)
	waitAnswers(t, rs, primary, 20*time.Second)
	waitProbers(t, b.primary, 2, 10*time.Second)

	marks := map[string]int{}
	for _, r := range rs {
		marks[r.Name] = r.LogLen()
	}
	watch := watchFlips(rs, primary)
	etcd.Stop()
	stopped := time.Now()
	for _, r := range rs {
		r.WaitLogFrom(marks[r.Name], `Fleet: member `+r.Name+`: fleet -> local`, lease+5*time.Second)
	}
	t.Logf("All replicas in local mode %s after etcd stopped", time.Since(stopped).Round(10*time.Millisecond))
	waitProbers(t, b.primary, 3, 5*time.Second)
	if seen := watch.end(); len(seen) > 0 {
		t.Errorf("Answers flipped when etcd was lost: %v", seen)
	}

	addr := b.primary.Addr()
	b.primary.Close()
	waitAnswers(t, rs, secondary, detection)
	b.primary = replicas.NewBackend(t, addr)
	waitAnswers(t, rs, primary, detection)

	for _, r := range rs {
		marks[r.Name] = r.LogLen()
	}
	if err := etcd.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		r.WaitLogFrom(marks[r.Name], `Fleet: member `+r.Name+`: local -> fleet`, 15*time.Second)
	}
	waitProbers(t, b.primary, 2, 10*time.Second)
	waitProbers(t, b.secondary, 2, 10*time.Second)
	holdAnswers(t, rs, primary, time.Second)
}
