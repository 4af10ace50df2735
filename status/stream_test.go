package status

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/events"
)

type fakeSource struct{ log *events.Log }

func (f fakeSource) Pools(string) []Pool { return nil }
func (f fakeSource) Events() *events.Log { return f.log }

// TestStreamAfterRestart: a client that resumes with an ID from an earlier
// process (IDs here begin again at 1) gets this process's events, instead of
// waiting for an ID that will not come for a long time.
func TestStreamAfterRestart(t *testing.T) {
	log := events.NewLog(10, nil)
	log.Append(events.Event{Type: events.TypeTargetDown, Pool: "held.example.org."})
	srv, err := Acquire(Config{Addr: "127.0.0.1:0"}, fakeSource{log})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Release()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + srv.Addr().String() + "/api/v1/events/stream?since=500")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	log.Append(events.Event{Type: events.TypeTargetUp, Pool: "new.example.org."})
	got := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				got <- data
			}
		}
	}()
	for _, want := range []string{"held.example.org.", "new.example.org."} {
		select {
		case data := <-got:
			if !strings.Contains(data, want) {
				t.Errorf("Streamed %s, want the event about %s", data, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("No event about %s within 5s of resuming after a restart", want)
		}
	}
}

// TestLeaseConfiguration: the newest lease's configuration is served; when
// it ends (a reload that failed), the one before applies again.
func TestLeaseConfiguration(t *testing.T) {
	src := fakeSource{events.NewLog(10, nil)}
	running, err := Acquire(Config{Addr: "127.0.0.1:0", Token: "secret"}, src)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Release()
	url := "http://" + running.Addr().String() + "/api/v1/status"
	status := func() int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != http.StatusUnauthorized {
		t.Fatalf("With a token: %d, want 401", got)
	}
	failed, err := Acquire(Config{Addr: running.cfg.Addr}, src)
	if err != nil || failed.s != running.s {
		t.Fatalf("A second lease on the same address: %v, shared %v", err, failed != nil && failed.s == running.s)
	}
	if got := status(); got != http.StatusOK {
		t.Errorf("The newest lease, without a token: %d, want 200", got)
	}
	failed.Release()
	if got := status(); got != http.StatusUnauthorized {
		t.Errorf("After the newest lease ended: %d, want 401 again", got)
	}
}
