package failover_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/notify"

	"go.uber.org/goleak"
)

// hookReceiver is a real webhook receiver on 127.0.0.1: it records the
// JSON events posted to /hook and the texts posted to /slack.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []events.Event
	texts  []string
	auth   []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		switch r.URL.Path {
		case "/hook":
			var e events.Event
			if json.Unmarshal(body, &e) == nil {
				h.events = append(h.events, e)
			}
			h.auth = append(h.auth, r.Header.Get("Authorization"))
		case "/slack":
			var m struct{ Text string }
			if json.Unmarshal(body, &m) == nil {
				h.texts = append(h.texts, m.Text)
			}
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// count returns how many JSON events match.
func (h *hookReceiver) count(match func(events.Event) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if match(e) {
			n++
		}
	}
	return n
}

func (h *hookReceiver) slackTexts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.texts...)
}

// TestNotifyWebhooks: CoreDNS started from a Corefile posts the events to
// real webhooks; two server blocks and a reload that keep the same notify
// lines share their notifiers, so each event arrives once; a killed backend
// brings a target_down, as JSON and as a slack summary. The stop leaves no
// goroutine behind.
func TestNotifyWebhooks(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	h := newHookReceiver(t)
	time.Sleep(50 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()
	running := notify.Running()
	corefile := func(ttl int) string {
		block := func(zone string, targets ...string) string {
			var tl string
			for i, ip := range targets {
				tl += fmt.Sprintf("\t\t\ttarget %s priority %d\n", ip, i+1)
			}
			return fmt.Sprintf(`%s:0 {
	failover {
		notify %s/hook {
			header Authorization "Bearer hook-token"
		}
		notify %s/slack {
			format slack
			events target_down
		}
		pool www.%s {
%s			check tcp://www.%s:%s
			interval 200ms
			fall 1
			ttl %d
		}
	}
}
`, zone, h.srv.URL, h.srv.URL, zone, tl, zone, port, ttl)
		}
		return block("notify.example", "127.0.0.1", "127.0.0.2") + block("notify.test", "127.0.0.2")
	}
	s := startCoreDNS(t, corefile(30))
	if n := notify.Running() - running; n != 2 {
		t.Errorf("%d notifiers run for two server blocks with the same two notify lines, want 2", n)
	}
	waitAllUp(t, "www.notify.example.", "127.0.0.1", "127.0.0.2")
	loaded := func(e events.Event) bool {
		return e.Type == events.TypeConfigLoaded && strings.Contains(e.Server, "notify.")
	}
	waitFor(t, 5*time.Second, "config_loaded webhooks of both blocks", func() bool { return h.count(loaded) >= 2 })

	s.restart(t, corefile(20))
	if n := notify.Running() - running; n != 2 {
		t.Errorf("%d notifiers run after a reload that kept the notify lines, want 2", n)
	}
	waitFor(t, 5*time.Second, "config_loaded webhooks of the reload", func() bool { return h.count(loaded) >= 4 })

	bs[0].stop()
	down := func(e events.Event) bool {
		return e.Type == events.TypeTargetDown && e.Pool == "www.notify.example." && e.Target == "127.0.0.1"
	}
	waitFor(t, detectLimit+5*time.Second, "the target_down webhook", func() bool { return h.count(down) > 0 })
	want := "www.notify.example.: target 127.0.0.1 is down (refused: "
	waitFor(t, 5*time.Second, "the slack summary", func() bool {
		for _, text := range h.slackTexts() {
			if strings.HasPrefix(text, want) {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	if n := h.count(down); n != 1 {
		t.Errorf("The target_down webhook arrived %d times, want once", n)
	}
	if n := h.count(loaded); n != 4 {
		t.Errorf("%d config_loaded webhooks, want 4 (two blocks, two loads)", n)
	}
	h.mu.Lock()
	for _, a := range h.auth {
		if a != "Bearer hook-token" {
			t.Errorf("A webhook came with Authorization %q", a)
		}
	}
	for _, text := range h.texts {
		if !strings.Contains(text, "is down") {
			t.Errorf("The slack hook, limited to target_down, got %q", text)
		}
	}
	h.mu.Unlock()

	s.stop()
	if n := notify.Running(); n != running {
		t.Errorf("%d notifiers run after the stop, want %d", n, running)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("Goroutines left after a reload and a stop:\n%v", err)
	}
}
