package failover_test

import (
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failover-dns/failover/status"

	"github.com/miekg/dns"
)

// delayedBackends serves HTTP on each of ips (one port), answering after a
// delay chosen per address by delay, which the test may change while it
// runs: the backend itself is slow, as a loaded server is.
type delayedBackends struct {
	backends []*backend
	port     string
	delays   map[string]*atomic.Pointer[func() time.Duration]
}

func startDelayedBackends(t *testing.T, ips ...string) *delayedBackends {
	t.Helper()
	d := &delayedBackends{delays: map[string]*atomic.Pointer[func() time.Duration]{}}
	for _, ip := range ips {
		d.delays[ip] = new(atomic.Pointer[func() time.Duration])
		d.fixed(ip, 0)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
		time.Sleep((*d.delays[local].Load())())
		w.Write([]byte("ok\n"))
	})
	d.backends, d.port = startBackends(t, handler, ips...)
	return d
}

// fixed makes ip answer after delay.
func (d *delayedBackends) fixed(ip string, delay time.Duration) {
	f := func() time.Duration { return delay }
	d.delays[ip].Store(&f)
}

// noisy makes ip answer after a random delay, uniform in [lo, hi).
func (d *delayedBackends) noisy(ip string, lo, hi time.Duration) {
	f := func() time.Duration { return lo + rand.N(hi-lo) }
	d.delays[ip].Store(&f)
}

// steeringPool returns the named pool's status.
func steeringPool(t *testing.T, c *statusClient, name string) status.Pool {
	t.Helper()
	pools := c.pools(t, "?pool="+name)
	if len(pools) != 1 {
		t.Fatalf("Status of pool %s: %d pools", name, len(pools))
	}
	return pools[0]
}

func targetNamed(p status.Pool, addr string) status.Target {
	for _, t := range p.Targets {
		if t.Address == addr {
			return t
		}
	}
	return status.Target{}
}

// TestFastestFollowsRTT: policy fastest answers the target whose backend
// answers sooner; when the backends swap their delays the answer follows,
// but only once the other target has been faster by the margin for the
// configured number of its rounds.
func TestFastestFollowsRTT(t *testing.T) {
	const slow, fast, rounds, interval = 60 * time.Millisecond, 5 * time.Millisecond, 5, 200 * time.Millisecond
	d := startDelayedBackends(t, "127.0.0.2", "127.0.0.3")
	d.fixed("127.0.0.2", slow)
	d.fixed("127.0.0.3", fast)
	c, statusAddr := newStatusClient(t, "")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		status `+statusAddr+`
		pool fast.example.org {
			target 127.0.0.2
			target 127.0.0.3
			check http://fast.example.org:`+d.port+`/
			interval 200ms
			timeout 150ms
			policy fastest
			fastest_margin 20% 5ms 5
		}
	}
}`)
	// The first target in configuration order is answered until RTTs say
	// otherwise.
	took := waitSwitch(t, s, c, "127.0.0.2", "127.0.0.3")
	t.Logf("Switch to the fast target %s after it first beat the margin", took)

	d.fixed("127.0.0.2", fast)
	d.fixed("127.0.0.3", slow)
	took = waitSwitch(t, s, c, "127.0.0.3", "127.0.0.2")
	t.Logf("After the swap, the answer moved %s after the other target first beat the margin", took)
	// 5 rounds of the new target, the first at the earliest as the margin is
	// first beaten: at least 4 intervals (less 5 % jitter) later.
	if min := (rounds - 1) * interval * 6 / 10; took < min {
		t.Errorf("The answer moved %s after the RTTs crossed the margin, want at least %s (%d rounds of %s)", took, min, rounds, interval)
	}
	if st := targetNamed(steeringPool(t, c, "fast.example.org"), "127.0.0.2"); st.Steering != "fastest: answered" {
		t.Errorf("Status of the answered target: steering %q, want %q", st.Steering, "fastest: answered")
	}
}

// waitSwitch waits for the pool's answer to move from one target to the
// other and returns how long after the other first beat the answered one
// by the default-shaped margin (20 %, 5ms) it moved, as the status API
// showed the RTTs.
func waitSwitch(t *testing.T, s *coreDNS, c *statusClient, from, to string) time.Duration {
	t.Helper()
	var beaten time.Time
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p := steeringPool(t, c, "fast.example.org")
		if slices.Equal(p.Answers["A"], []string{to}) {
			if beaten.IsZero() {
				t.Fatalf("The answer moved to %s before its RTT beat %s's by the margin", to, from)
			}
			if got, err := s.answers("fast.example.org.", dns.TypeA); err != nil || !slices.Equal(got, []string{to}) {
				t.Fatalf("The status answers %s but a query gets %v (%v)", to, got, err)
			}
			return time.Since(beaten)
		}
		a, b := targetNamed(p, from).RTT, targetNamed(p, to).RTT
		if beaten.IsZero() && b > 0 && a-b >= 0.005 && a-b >= 0.2*a {
			beaten = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("The answer did not move from %s to %s within 20s", from, to)
	return 0
}

// TestFastestNoiseDoesNotAlternate: two targets whose backends answer after
// random delays around the same mean keep one answer over 30 s: the answer
// never goes back to a target it left.
func TestFastestNoiseDoesNotAlternate(t *testing.T) {
	d := startDelayedBackends(t, "127.0.0.4", "127.0.0.5")
	d.noisy("127.0.0.4", 30*time.Millisecond, 50*time.Millisecond)
	d.noisy("127.0.0.5", 30*time.Millisecond, 50*time.Millisecond)
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool noisy.example.org {
			target 127.0.0.4
			target 127.0.0.5
			check http://noisy.example.org:`+d.port+`/
			interval 200ms
			timeout 150ms
			policy fastest
		}
	}
}`)
	var runs []string // the answers seen, a new entry each time it changes
	queries := 0
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(25 * time.Millisecond) {
		got, err := s.answers("noisy.example.org.", dns.TypeA)
		if err != nil || len(got) != 1 {
			t.Fatalf("Query %d: %v (%v), want one address", queries, got, err)
		}
		queries++
		if len(runs) == 0 || runs[len(runs)-1] != got[0] {
			runs = append(runs, got[0])
		}
	}
	t.Logf("%d queries over 30s: answers in turn %v", queries, runs)
	if len(runs) > 2 {
		t.Errorf("The answer alternated between two targets of the same mean RTT: %v", runs)
	}
}

// TestSlowTargetLeavesAnswers: with slow_rtt, a target whose backend is
// slow leaves the answers while a fast one is UP, comes back when it is
// alone, and leaves again when the fast one recovers.
func TestSlowTargetLeavesAnswers(t *testing.T) {
	d := startDelayedBackends(t, "127.0.0.6", "127.0.0.7")
	d.fixed("127.0.0.6", 60*time.Millisecond)
	d.fixed("127.0.0.7", 5*time.Millisecond)
	c, statusAddr := newStatusClient(t, "")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		status `+statusAddr+`
		pool slow.example.org {
			target 127.0.0.6
			target 127.0.0.7
			check http://slow.example.org:`+d.port+`/
			interval 200ms
			timeout 150ms
			slow_rtt 30ms
		}
	}
}`)
	s.waitAnswer(t, "slow.example.org.", dns.TypeA, 10*time.Second, "127.0.0.7")
	st := targetNamed(steeringPool(t, c, "slow.example.org"), "127.0.0.6")
	if !st.Slow || st.State != "up" || !strings.Contains(st.Steering, "over slow_rtt 30ms") {
		t.Errorf("Status of the slow target: slow %v, state %s, steering %q", st.Slow, st.State, st.Steering)
	}
	labels := map[string]string{"pool": "slow.example.org.", "target": "127.0.0.6"}
	if v := metricValue(t, "coredns_failover_target_slow", labels); v != 1 {
		t.Errorf("coredns_failover_target_slow%v = %g, want 1", labels, v)
	}
	d.backends[1].stop()
	s.waitAnswer(t, "slow.example.org.", dns.TypeA, 10*time.Second, "127.0.0.6")
	d.backends[1].start()
	s.waitAnswer(t, "slow.example.org.", dns.TypeA, 15*time.Second, "127.0.0.7")
	for _, proto := range []string{"udp", "tcp"} {
		r, err := s.query(proto, "slow.example.org.", dns.TypeAAAA)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Errorf("AAAA over %s for a pool of IPv4 targets: %v (%v), want NODATA", proto, r, err)
		}
	}
}
