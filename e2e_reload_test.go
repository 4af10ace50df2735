package failover_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/failover-dns/failover"
	"github.com/failover-dns/failover/health"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("No /proc/self/fd to count sockets")
	}
	return len(entries)
}

// TestReloadLeaksNothing reloads the Corefile 20 times, alternating between
// two configurations, and checks that answers keep coming and that no
// goroutine or socket is left behind once the server stops.
func TestReloadLeaksNothing(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	_ = bs
	corefile := func(i int) string {
		extra := ""
		if i%2 == 1 {
			extra = fmt.Sprintf(`
		pool api.example.org {
			target 127.0.0.2
			check http://api.example.org:%s/
			interval 200ms
		}`, port)
		}
		return fmt.Sprintf(`example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check http://www.example.org:%s/
			interval 200ms
			timeout 100ms
		}%s
	}
}`, port, extra)
	}

	// Let the test's own servers and the runtime settle, then take stock.
	time.Sleep(50 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()
	fds := openFDs(t)

	s := startCoreDNS(t, corefile(0))
	for i := 1; i <= 20; i++ {
		s.restart(t, corefile(i))
		s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1")
		if i%2 == 1 {
			s.waitAnswer(t, "api.example.org.", dns.TypeA, recoverLimit, "127.0.0.2")
		}
	}
	if got := metricValue(t, "coredns_failover_target_up", map[string]string{"pool": "api.example.org."}); got != -1 {
		t.Errorf("A pool removed by the last reload still has a target_up series (value %v)", got)
	}
	s.stop()

	if err := goleak.Find(ignore); err != nil {
		t.Errorf("Goroutines left after 20 reloads and a stop:\n%v", err)
	}
	waitFor(t, 5*time.Second, "sockets to close", func() bool { return openFDs(t) <= fds })
	if got := metricValue(t, "coredns_failover_target_up", map[string]string{"pool": "www.example.org."}); got != -1 {
		t.Errorf("target_up series still present after the server stopped (value %v)", got)
	}
}

// TestMetricsLint runs promlint over every failover metric after some
// traffic has created each series.
func TestMetricsLint(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool lint.example.org {
			target 127.0.0.1
			check http://lint.example.org:`+port+`/
			interval 200ms
			fall 1
		}
	}
}`)
	s.waitAnswer(t, "lint.example.org.", dns.TypeA, recoverLimit, "127.0.0.1")
	waitFor(t, recoverLimit, "a passed probe round", func() bool {
		return metricValue(t, "coredns_failover_target_rtt_seconds", map[string]string{"pool": "lint.example.org."}) > 0
	})
	bs[0].stop()
	waitFor(t, detectLimit, "all-down", func() bool {
		return metricValue(t, "coredns_failover_all_down_total", map[string]string{"pool": "lint.example.org."}) == 1
	})
	s.answers("lint.example.org.", dns.TypeA)

	names := []string{
		"coredns_failover_target_up", "coredns_failover_probes_total", "coredns_failover_probe_duration_seconds",
		"coredns_failover_transitions_total", "coredns_failover_answers_total", "coredns_failover_all_down_total",
		"coredns_failover_probe_lateness_seconds", "coredns_failover_target_rtt_seconds",
	}
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range families {
		if strings.HasPrefix(mf.GetName(), "coredns_failover_") {
			seen[mf.GetName()] = true
		}
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("Metric %s was not exported", n)
		}
	}
	problems, err := testutil.GatherAndLint(prometheus.DefaultGatherer, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestReloadKeepsState: a DOWN target stays DOWN across a Corefile reload
// that does not change how it is probed: the answers never flip back to it
// and it gets no burst of new probes.
func TestReloadKeepsState(t *testing.T) {
	var primaryHits atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String(), "127.0.0.1:") {
			primaryHits.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	_, port := startBackends(t, handler, "127.0.0.1", "127.0.0.2")
	const interval = time.Second
	corefile := func(extra string) string {
		return fmt.Sprintf(`example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check http://www.example.org:%s/health
			interval %s
			fall 1
		}%s
	}
}`, port, interval, extra)
	}
	s := startCoreDNS(t, corefile(""))
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.2")

	before := primaryHits.Load()
	s.restart(t, corefile(`
		pool api.example.org {
			target 127.0.0.2
			check tcp://api.example.org:`+port+`
		}`))
	start := time.Now()
	for time.Since(start) < 2*interval {
		got, err := s.answers("www.example.org.", dns.TypeA)
		if err != nil || len(got) != 1 || got[0] != "127.0.0.2" {
			t.Fatalf("%s after the reload www.example.org answered %v (%v): the DOWN primary came back", time.Since(start).Round(time.Millisecond), got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if hits := primaryHits.Load() - before; hits > 3 {
		t.Errorf("The DOWN primary got %d probes in the 2 intervals after the reload: want its usual schedule (about 2)", hits)
	}
	if got := metricValue(t, "coredns_failover_target_up", map[string]string{"pool": "www.example.org.", "target": "127.0.0.1"}); got != 0 {
		t.Errorf("target_up for the DOWN primary after the reload: %v, want 0", got)
	}
}

// TestFailedReloadReleasesProbes: a reload that fails because a port is in
// use (caddy runs OnStartup before it starts the servers, then drops the
// instance without OnShutdown) leaves no probe loop, goroutine or metric
// series behind, however often it is repeated; a good reload afterwards
// runs exactly the probe loops of the new configuration.
func TestFailedReloadReleasesProbes(t *testing.T) {
	var removedHits atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String(), "127.0.0.3:") {
			removedHits.Add(1)
		}
	})
	_, port := startBackends(t, handler, "127.0.0.1", "127.0.0.3")
	busy := busyServerBlock(t)
	pool := func(name, target string) string {
		return fmt.Sprintf(`
		pool %s {
			target %s
			check http://%s:%s/
			interval 100ms
			timeout 50ms
		}`, name, target, name, port)
	}
	corefile := func(pools, extra string) string {
		return "example.org:0 {\n\tfailover {" + pools + "\n\t}\n}\n" + extra
	}
	time.Sleep(50 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()

	s := startCoreDNS(t, corefile(pool("www.example.org", "127.0.0.1"), ""))
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1")
	if got := health.Running(); got != 1 {
		t.Fatalf("%d probe loops run for one target", got)
	}
	failing := corefile(pool("www.example.org", "127.0.0.1")+pool("gone.example.org", "127.0.0.3"), busy)
	for i := range 3 {
		inst, err := s.inst.Restart(test.NewInput(failing))
		if err == nil {
			s.inst = inst
			t.Fatalf("Reload %d onto a busy port succeeded", i+1)
		}
		if got := health.Running(); got != 1 {
			t.Fatalf("After failed reload %d: %d probe loops run, want 1", i+1, got)
		}
	}
	hits := removedHits.Load()
	time.Sleep(time.Second) // ten intervals of the failed configuration's pool
	if more := removedHits.Load() - hits; more > 0 {
		t.Errorf("The target of a failed reload got %d probes after the reload failed", more)
	}
	if got := metricValue(t, "coredns_failover_target_up", map[string]string{"pool": "gone.example.org."}); got != -1 {
		t.Errorf("A pool of a failed reload has a target_up series (value %v)", got)
	}
	if got, err := s.answers("www.example.org.", dns.TypeA); err != nil || len(got) != 1 {
		t.Errorf("The running configuration stopped answering after failed reloads: %v (%v)", got, err)
	}

	s.restart(t, corefile(pool("www.example.org", "127.0.0.1")+pool("api.example.org", "127.0.0.3"), ""))
	s.waitAnswer(t, "api.example.org.", dns.TypeA, recoverLimit, "127.0.0.3")
	if got := health.Running(); got != 2 {
		t.Errorf("After a good reload: %d probe loops run, want 2", got)
	}
	s.stop()
	if got := health.Running(); got != 0 {
		t.Errorf("After the stop: %d probe loops run", got)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("Goroutines left after failed reloads, a good reload and a stop:\n%v", err)
	}
}

// TestStartAndReloadLogged: start-up and every reload log one line per
// server block with its pools, targets, and the probe loops kept, started
// and left to stop.
func TestStartAndReloadLogged(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	logs := failover.CaptureLog(t)
	corefile := func(targets ...string) string {
		lines := ""
		for _, tg := range targets {
			lines += "\n\t\t\ttarget " + tg
		}
		return `example.org:0 {
	failover {
		pool www.example.org {` + lines + `
			check tcp://www.example.org:` + port + `
		}
	}
}`
	}
	s := startCoreDNS(t, corefile("127.0.0.1", "127.0.0.2"))
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1", "127.0.0.2")
	s.restart(t, corefile("127.0.0.1", "127.0.0.3"))
	// Queries after a reload also wake the previous servers' readers, which
	// share the sockets, so that the test's stop does not wait on them.
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1", "127.0.0.3")
	for _, want := range []string{
		"Server block dns://example.org.:0: 1 pools, 2 targets; probe loops: 0 kept, 2 started, 0 to stop",
		"Server block dns://example.org.:0: 1 pools, 2 targets; probe loops: 1 kept, 1 started, 1 to stop",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("The log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestFailedReloadFromNoFailover: when the configuration that keeps running
// has no failover, nothing of ours hears that a reload failed; the probe
// loops the failed configuration started are released at the next load.
func TestFailedReloadFromNoFailover(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1", "127.0.0.3")
	busy := busyServerBlock(t)
	withPool := func(target, extra string) string {
		return `example.org:0 {
	failover {
		pool www.example.org {
			target ` + target + `
			check tcp://www.example.org:` + port + `
			interval 100ms
		}
	}
}
` + extra
	}
	s := startCoreDNS(t, "example.org:0 {\n\twhoami\n}\n")
	if _, err := s.inst.Restart(test.NewInput(withPool("127.0.0.3", busy))); err == nil {
		t.Fatal("The reload onto a busy port succeeded")
	}
	s.restart(t, withPool("127.0.0.1", ""))
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1")
	if got := health.Running(); got != 1 {
		t.Errorf("After a good load: %d probe loops run, want 1 (the failed configuration's released)", got)
	}
}

// TestFailedReloadKeepsOverrideSeries: a failed reload to a configuration
// without the overrides file leaves the running configuration's override
// series as they were.
func TestFailedReloadKeepsOverrideSeries(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	overrides := filepath.Join(t.TempDir(), "overrides")
	if err := os.WriteFile(overrides, []byte("www.example.org 127.0.0.2 drain maintenance\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy := busyServerBlock(t)
	corefile := func(extra, more string) string {
		return `example.org:0 {
	failover {` + extra + `
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2
			check tcp://www.example.org:` + port + `
		}
	}
}
` + more
	}
	s := startCoreDNS(t, corefile("\n\t\toverrides "+overrides, ""))
	drained := map[string]string{"pool": "www.example.org.", "target": "127.0.0.2", "action": "drain"}
	if got := metricValue(t, "coredns_failover_target_override", drained); got != 1 {
		t.Fatalf("target_override for the drained target: %v, want 1", got)
	}
	if _, err := s.inst.Restart(test.NewInput(corefile("", busy))); err == nil {
		t.Fatal("The reload onto a busy port succeeded")
	}
	if got := metricValue(t, "coredns_failover_target_override", drained); got != 1 {
		t.Errorf("After the failed reload, target_override for the drained target: %v, want 1", got)
	}
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1")
}

// busyServerBlock returns a server block whose port is in use, so that a
// configuration holding it fails to start after its plugins started.
func busyServerBlock(t *testing.T) string {
	t.Helper()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	return "example.net:" + port + " {\n\tbind 127.0.0.1\n\twhoami\n}\n"
}

// TestReloadKeepsProbeSchedule: across reloads that keep a target's
// probing as it was, its rounds go on at their interval under the shared
// scheduler: none lost (a gap of two intervals) and none doubled (two
// rounds closer than the jittered interval), whatever the moment of the
// hand-over.
func TestReloadKeepsProbeSchedule(t *testing.T) {
	var mu sync.Mutex
	var probes []time.Time
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		probes = append(probes, time.Now())
		mu.Unlock()
		w.Write([]byte("ok\n"))
	})
	_, port := startBackends(t, handler, "127.0.0.1")
	const interval = 300 * time.Millisecond
	corefile := func(n int) string {
		return fmt.Sprintf(`example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			check http://www.example.org:%s/health
			interval %s
		}
		pool other%d.example.org {
			target 127.0.0.2
			check tcp://other.example.org:1
		}
	}
}`, port, interval, n)
	}
	s := startCoreDNS(t, corefile(0))
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1")
	mu.Lock()
	from := len(probes)
	mu.Unlock()
	// Reloads at a spacing that is not a multiple of the interval, so that
	// they fall at every phase of the target's schedule.
	for n := 1; n <= 8; n++ {
		time.Sleep(interval * 7 / 6)
		s.restart(t, corefile(n))
	}
	time.Sleep(interval)
	mu.Lock()
	seen := append([]time.Time(nil), probes[from:]...)
	mu.Unlock()
	if span := seen[len(seen)-1].Sub(seen[0]); len(seen) < 8 || span < 8*interval {
		t.Fatalf("%d probes over %s during 8 reloads at interval %s", len(seen), span, interval)
	}
	for i := 1; i < len(seen); i++ {
		gap := seen[i].Sub(seen[i-1])
		switch {
		case gap < interval*95/100-10*time.Millisecond:
			t.Errorf("Probes %d and %d came %s apart: a round doubled across a reload (interval %s)", i, i+1, gap.Round(time.Millisecond), interval)
		case gap > interval*105/100+interval/2:
			t.Errorf("Probes %d and %d came %s apart: a round lost across a reload (interval %s)", i, i+1, gap.Round(time.Millisecond), interval)
		}
	}
}
