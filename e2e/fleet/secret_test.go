package fleet

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
	"github.com/failover-dns/failover/internal/wait"
)

// TestFleetSecretSeparatesReplicas: replicas a and b share a fleet secret
// and name the targets alike, sharing their probing; c has another secret:
// it names them otherwise, is left out of a and b's fleet (and they of its)
// with a warning, and all three still fail over when the primary dies.
func TestFleetSecretSeparatesReplicas(t *testing.T) {
	const shared, other = "9f1c2e7a4b6d8e0f1a3c5e7b", "0e2d4c6b8a9f1e3d5c7b"
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	cf := corefile(etcd.Endpoint(), b, fleetOptions{extra: "secret {$FLEET_SECRET}"})
	ab := start(t, cf, replicas.Options{Env: []string{"FLEET_SECRET=" + shared}}, "a", "b")
	c := start(t, cf, replicas.Options{Env: []string{"FLEET_SECRET=" + other}}, "c")
	rs := append(ab, c...)
	waitAnswers(t, rs, host(b.primary), 20*time.Second)

	client, err := etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	// a and b: one fleet of two, probers 2: both give a verdict on each of
	// the two targets under one name; c, a fleet of its own, one verdict
	// on each under names of its own.
	var p published
	wait.For(t, 10*time.Second, 50*time.Millisecond, "verdicts of a and b on two targets, of c on two others", func() bool {
		p = readPublished(t, client)
		together, alone := 0, 0
		for _, members := range p.verdicts {
			slices.Sort(members)
			switch {
			case slices.Equal(members, []string{"a", "b"}):
				together++
			case slices.Equal(members, []string{"c"}):
				alone++
			}
		}
		return together == 2 && alone == 2 && len(p.verdicts) == 4
	})
	c[0].WaitLog(`member "a" names targets under another fleet secret`, 5*time.Second)
	ab[0].WaitLog(`member "c" names targets under another fleet secret`, 5*time.Second)
	for _, r := range rs {
		if log := r.Log(); strings.Contains(log, shared) || strings.Contains(log, other) {
			t.Errorf("Replica %s logs a secret:\n%s", r.Name, log)
		}
	}

	b.primary.Close()
	waitAnswers(t, rs, host(b.secondary), detection)
}
