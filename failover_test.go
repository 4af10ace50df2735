package failover

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func startParsed(t *testing.T, corefile string) *Failover {
	t.Helper()
	f, err := parse(caddy.NewTestController("dns", corefile))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.OnShutdown() })
	return f
}

// TestReadyAfterFirstVerdicts: Ready is false until every target has been
// probed once, and true afterwards even when a target is down.
func TestReadyAfterFirstVerdicts(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer func() { close(release); slow.Close() }()
	_, port, _ := net.SplitHostPort(slow.Listener.Addr().String())

	f := startParsed(t, `failover example.org {
		pool slow.example.org {
			target 127.0.0.1
			check http://slow.example.org:`+port+`/
			interval 2s
			timeout 1s
		}
	}`)
	// The only probe hangs until its 1s timeout: no verdict before then.
	time.Sleep(300 * time.Millisecond)
	if f.Ready() {
		t.Fatal("Ready before any probe finished")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !f.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("Not ready 10s after start with a 1s probe timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := f.pools[0].answers[v4].Load(); a.result != resultFailOpen {
		t.Errorf("The timed-out target should be down (answer failing open), got %+v", a)
	}
}
