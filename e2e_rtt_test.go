package failover_test

import (
	"net/http"
	"testing"
	"time"
)

// TestRTTGauge: a backend that answers after 30 ms shows a smoothed
// round-trip time of at least that in coredns_failover_target_rtt_seconds,
// and the series goes when the pool does.
func TestRTTGauge(t *testing.T) {
	const delay = 30 * time.Millisecond
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(delay)
		w.Write([]byte("ok\n"))
	})
	_, port := startBackends(t, handler, "127.0.0.1")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool rtt.example.org {
			target 127.0.0.1
			check http://rtt.example.org:`+port+`/
			interval 200ms
			timeout 150ms
		}
	}
}`)
	target := map[string]string{"pool": "rtt.example.org.", "target": "127.0.0.1"}
	// Several passed rounds, so that the average is more than the first
	// round (which also connects).
	waitFor(t, 10*time.Second, "5 passed probe rounds", func() bool {
		return metricValue(t, "coredns_failover_probes_total", map[string]string{"pool": "rtt.example.org.", "result": "success"}) >= 5
	})
	rtt := metricValue(t, "coredns_failover_target_rtt_seconds", target)
	t.Logf("Smoothed RTT of a backend answering after %s: %.1fms", delay, rtt*1000)
	if rtt < 0.025 || rtt > 1 {
		t.Errorf("coredns_failover_target_rtt_seconds%v = %g, want between 0.025 and 1 (the backend waits %s)", target, rtt, delay)
	}
	s.stop()
	if v := metricValue(t, "coredns_failover_target_rtt_seconds", target); v != -1 {
		t.Errorf("After the server stopped, coredns_failover_target_rtt_seconds%v = %g, want the series deleted", target, v)
	}
}
