package fleet

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
	"github.com/failover-dns/failover/internal/wait"
)

// TestFleetNotifiesOnce: three replicas notify one webhook. When the
// primary dies, every replica records target_down and answer_changed, but
// each is sent once, by the primary's best-ranked prober.
func TestFleetNotifiesOnce(t *testing.T) {
	hook, count := webhook(t)

	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	rs := start(t, corefile(etcd.Endpoint(), b, fleetOptions{notify: hook}), replicas.Options{}, "a", "b", "c")
	waitAnswers(t, rs, host(b.primary), 20*time.Second)
	b.primary.Close()
	waitAnswers(t, rs, host(b.secondary), detection)
	wait.For(t, 5*time.Second, 20*time.Millisecond, "target_down and answer_changed to be notified", func() bool {
		return count("target_down") >= 1 && count("answer_changed") >= 1
	})
	time.Sleep(time.Second) // room for duplicates to arrive
	if d, a := count("target_down"), count("answer_changed"); d != 1 || a != 1 {
		t.Errorf("Notified target_down %d times and answer_changed %d times, want once each", d, a)
	}
	for _, r := range rs {
		if st := statusOf(t, r, host(b.primary)); st.State != "down" {
			t.Errorf("Replica %s shows the primary %s", r.Name, st.State)
		}
	}
}

// webhook is a webhook that counts the events it receives by type, until
// the test ends: its URL, and the count of a type.
func webhook(t *testing.T) (url string, count func(typ string) int) {
	var mu sync.Mutex
	got := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		var e struct {
			Type string `json:"type"`
		}
		json.Unmarshal(body, &e)
		mu.Lock()
		got[e.Type]++
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	return hook.URL, func(typ string) int {
		mu.Lock()
		defer mu.Unlock()
		return got[typ]
	}
}
