package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
)

// TestFleetCorefilesDiffer: during a rollout, replica a has a pool the
// others lack. Its target's probers may be replicas that do not know it, so
// too few verdicts ever come: after lease + 2 intervals, a probes it itself
// and decides alone, answers, and fails over when its backend dies.
func TestFleetCorefilesDiffer(t *testing.T) {
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	extra := newPair(t, "127.0.0.31", "127.0.0.32")
	base := corefile(etcd.Endpoint(), b, fleetOptions{})
	// The same pool for api.example.org, on the other pair.
	api := corefile(etcd.Endpoint(), extra, fleetOptions{})
	pool := api[strings.Index(api, "        pool www.example.org"):strings.LastIndex(api, "    }\n}")]
	pool = strings.Replace(pool, "pool www.example.org", "pool api.example.org", 1)
	withAPI := strings.Replace(base, "        pool www.example.org", pool+"        pool www.example.org", 1)

	others := start(t, base, replicas.Options{}, "b", "c")
	a := start(t, withAPI, replicas.Options{}, "a")[0]
	waitAnswers(t, append(others, a), host(b.primary), 20*time.Second)

	apiAnswer := func(r *replicas.Replica) string {
		m, err := r.Query("api.example.org", 1, "udp")
		if err != nil || len(m.Answer) != 1 {
			return ""
		}
		return strings.Fields(m.Answer[0].String())[4]
	}
	deadline := time.Now().Add(lease + 2*interval + 5*time.Second)
	for apiAnswer(a) != host(extra.primary) {
		if time.Now().After(deadline) {
			t.Fatalf("Replica a answers api.example.org with %q, want %s", apiAnswer(a), host(extra.primary))
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.WaitLog(`too few probers of 127.0.0.31 .* have a verdict .*: probing it here too`, 10*time.Second)
	if st := statusOf(t, a, host(extra.primary)); st.Fleet == nil || !st.Fleet.ProbedHere {
		t.Errorf("Replica a does not probe the target only it knows: %+v", st.Fleet)
	}
	extra.primary.Close()
	deadline = time.Now().Add(detection)
	for apiAnswer(a) != host(extra.secondary) {
		if time.Now().After(deadline) {
			t.Fatalf("Replica a answers api.example.org with %q after its primary died, want %s", apiAnswer(a), host(extra.secondary))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
