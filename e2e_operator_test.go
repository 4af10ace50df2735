package failover_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-dns/failover"

	"github.com/miekg/dns"
)

// TestFailbackHoldDown: the recovered primary wins the answers back only
// after the hold-down; with 'failback manual' it does not win them back
// until an operator forces it up.
func TestFailbackHoldDown(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	overrides := filepath.Join(t.TempDir(), "overrides")
	const hold = 2 * time.Second
	s := startCoreDNS(t, `example.org:0 {
	failover {
		overrides `+overrides+` 100ms
		pool held.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check tcp://held.example.org:`+port+`
			interval 200ms
			timeout 100ms
			rise 1
			fall 1
			failback `+hold.String()+`
		}
		pool manual.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check tcp://manual.example.org:`+port+`
			interval 200ms
			timeout 100ms
			rise 1
			fall 1
			failback manual
		}
	}
}`)
	for _, pool := range []string{"held.example.org.", "manual.example.org."} {
		waitAllUp(t, pool, "127.0.0.1", "127.0.0.2")
		s.waitAnswer(t, pool, dns.TypeA, time.Second, "127.0.0.1")
	}
	bs[0].stop()
	for _, pool := range []string{"held.example.org.", "manual.example.org."} {
		s.waitAnswer(t, pool, dns.TypeA, detectLimit, "127.0.0.2")
	}
	bs[0].start()
	waitFor(t, recoverLimit, "primary up again", func() bool {
		return metricValue(t, "coredns_failover_target_up", map[string]string{"pool": "held.example.org.", "target": "127.0.0.1"}) == 1
	})
	upAt := time.Now()
	d := s.waitAnswer(t, "held.example.org.", dns.TypeA, hold+slack, "127.0.0.1")
	if back := time.Since(upAt); back < hold-300*time.Millisecond {
		t.Errorf("Answers failed back %s after the primary came up, before the %s hold-down", back, hold)
	}
	t.Logf("Failback after the %s hold-down: %s after the primary was up", hold, d.Round(time.Millisecond))
	if got, err := s.answers("manual.example.org.", dns.TypeA); err != nil || len(got) != 1 || got[0] != "127.0.0.2" {
		t.Fatalf("failback manual: got %v (%v), want to stay on 127.0.0.2", got, err)
	}
	if err := os.WriteFile(overrides, []byte("manual.example.org 127.0.0.1 up operator says so\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.waitAnswer(t, "manual.example.org.", dns.TypeA, 5*time.Second, "127.0.0.1")

	// The up ended the hold-down for good: removing the line leaves the
	// primary answered, and no longer pinned up, so that it leaves the
	// answers when it dies.
	if err := os.WriteFile(overrides, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the override to be lifted", func() bool {
		return metricValue(t, "coredns_failover_target_override", map[string]string{"pool": "manual.example.org."}) == -1
	})
	for start := time.Now(); time.Since(start) < time.Second; time.Sleep(50 * time.Millisecond) {
		if got, err := s.answers("manual.example.org.", dns.TypeA); err != nil || len(got) != 1 || got[0] != "127.0.0.1" {
			t.Fatalf("After the up line was removed: %v (%v), want the primary still", got, err)
		}
	}
	bs[0].stop()
	s.waitAnswer(t, "manual.example.org.", dns.TypeA, detectLimit, "127.0.0.2")
}

// TestOverridesFile: an operator drains and forces targets live; a
// malformed file leaves the last good state in force.
func TestOverridesFile(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	overrides := filepath.Join(t.TempDir(), "overrides")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(overrides, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# nothing yet\n")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		overrides `+overrides+` 100ms
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2
			target 127.0.0.3 priority 2
			target 127.0.0.4 priority 3
			check tcp://www.example.org:`+port+`
			interval 200ms
		}
	}
}`)
	const name = "www.example.org."
	waitAllUp(t, name, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	s.waitAnswer(t, name, dns.TypeA, time.Second, "127.0.0.1", "127.0.0.2")

	write("www.example.org 127.0.0.1 drain maintenance window\n")
	s.waitAnswer(t, name, dns.TypeA, 5*time.Second, "127.0.0.2")
	if got := metricValue(t, "coredns_failover_target_override", map[string]string{"pool": name, "target": "127.0.0.1", "action": "drain"}); got != 1 {
		t.Errorf("target_override{action=drain}: %v, want 1", got)
	}
	// A drained target is still probed.
	probes := metricValue(t, "coredns_failover_probes_total", map[string]string{"pool": name, "result": "success"})
	waitFor(t, 5*time.Second, "probes to go on", func() bool {
		return metricValue(t, "coredns_failover_probes_total", map[string]string{"pool": name, "result": "success"}) > probes+3
	})

	// Globs, and later lines win: every primary down, then one back up.
	write("www.example.org 127.0.0.* down\n*.example.org 127.0.0.2 up\n")
	s.waitAnswer(t, name, dns.TypeA, 5*time.Second, "127.0.0.2")
	write("www.example.org 127.0.0.[12] down\n")
	s.waitAnswer(t, name, dns.TypeA, 5*time.Second, "127.0.0.3")
	// 127.0.0.4 has no backend: forcing it up puts it into the answers anyway.
	write("www.example.org 127.0.0.[123] down\nwww.example.org 127.0.0.4 up\n")
	s.waitAnswer(t, name, dns.TypeA, 5*time.Second, "127.0.0.4")

	// A malformed file changes nothing.
	write("www.example.org 127.0.0.4\nwww.example.org 127.0.0.1 maybe\n")
	time.Sleep(500 * time.Millisecond) // five polls of the file
	if got, err := s.answers(name, dns.TypeA); err != nil || len(got) != 1 || got[0] != "127.0.0.4" {
		t.Fatalf("After a malformed overrides file: got %v (%v), want the last good state (127.0.0.4)", got, err)
	}
	// Removing the file lifts every override.
	os.Remove(overrides)
	s.waitAnswer(t, name, dns.TypeA, 5*time.Second, "127.0.0.1", "127.0.0.2")
}

// TestEveryTargetDrainedAllDown: a pool whose every target is drained has
// no target up, so its all_down policy answers: the fallback addresses, or
// SERVFAIL.
func TestEveryTargetDrainedAllDown(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	overrides := filepath.Join(t.TempDir(), "overrides")
	pool := func(name, allDown string) string {
		return `
		pool ` + name + ` {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check tcp://` + name + `:` + port + `
			interval 200ms
			all_down ` + allDown + `
		}`
	}
	s := startCoreDNS(t, `example.org:0 {
	failover {
		overrides `+overrides+` 100ms`+pool("fallback.example.org", "fallback 192.0.2.99")+pool("fail.example.org", "servfail")+`
	}
}`)
	for _, name := range []string{"fallback.example.org.", "fail.example.org."} {
		waitAllUp(t, name, "127.0.0.1", "127.0.0.2")
	}
	s.waitAnswer(t, "fallback.example.org.", dns.TypeA, time.Second, "127.0.0.1")
	if err := os.WriteFile(overrides, []byte("* 127.0.0.* drain maintenance\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.waitAnswer(t, "fallback.example.org.", dns.TypeA, 5*time.Second, "192.0.2.99")
	waitFor(t, 5*time.Second, "SERVFAIL over UDP and TCP from the drained servfail pool", func() bool {
		for _, proto := range []string{"udp", "tcp"} {
			if r, err := s.query(proto, "fail.example.org.", dns.TypeA); err != nil || r.Rcode != dns.RcodeServerFailure {
				return false
			}
		}
		return true
	})
}

// TestOverridesFIFODoesNotBlockShutdown: an overrides file replaced by a
// FIFO is refused (the drain stays in force) and CoreDNS still shuts down
// at once.
func TestOverridesFIFODoesNotBlockShutdown(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	overrides := filepath.Join(t.TempDir(), "overrides")
	if err := os.WriteFile(overrides, []byte("www.example.org 127.0.0.1 drain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := failover.CaptureLog(t)
	s := startCoreDNS(t, `example.org:0 {
	failover {
		overrides `+overrides+` 100ms
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2
			check tcp://www.example.org:`+port+`
			interval 200ms
		}
	}
}`)
	// A reader blocked on the FIFO (the defect) would block the stop in
	// the test's cleanup: release it first (cleanups run last in, first out).
	release := func() {
		if w, err := os.OpenFile(overrides, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
	t.Cleanup(release)
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2")
	s.waitAnswer(t, "www.example.org.", dns.TypeA, time.Second, "127.0.0.2")
	os.Remove(overrides)
	if err := syscall.Mkfifo(overrides, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the FIFO to be refused", func() bool {
		return strings.Contains(logs.String(), "not a regular file")
	})
	s.waitAnswer(t, "www.example.org.", dns.TypeA, time.Second, "127.0.0.2")
	stopped := make(chan struct{})
	go func() {
		s.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		release()
		<-stopped
		t.Fatal("CoreDNS did not shut down within 10 s with a FIFO as its overrides file")
	}
}
