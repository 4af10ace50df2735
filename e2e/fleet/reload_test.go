package fleet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestFleetReload: a Corefile reload of one replica keeps its membership
// (the same lease on its member key, no member leaving or joining), its
// state (no answer flips) and its probing (no burst of probes).
func TestFleetReload(t *testing.T) {
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	cf := corefile(etcd.Endpoint(), b, fleetOptions{})
	rs := start(t, cf, replicas.Options{}, "a", "b", "c")
	primary := host(b.primary)
	waitAnswers(t, rs, primary, 20*time.Second)
	waitProbers(t, b.primary, 2, 10*time.Second)

	client, err := etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := memberLease(t, ctx, client, "a")
	members := client.Watch(ctx, memberSpace, clientv3.WithPrefix())

	// Probes by a over as long as the reload's window, before it.
	window := 2 * time.Second
	a := byName(rs, "a")
	countA := func() int { return b.primary.Probes("a") + b.secondary.Probes("a") }
	start := countA()
	time.Sleep(window)
	quiet := countA() - start

	watch := watchFlips(rs, primary)
	mark := a.LogLen()
	start = countA()
	if err := a.Reload(strings.Replace(cf, "ttl 1", "ttl 2", 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(window)
	reloading := countA() - start
	if seen := watch.end(); len(seen) > 0 {
		t.Errorf("Answers flipped during the reload: %v", seen)
	}
	t.Logf("Probes by a in %s: %d before the reload, %d across it", window, quiet, reloading)
	if reloading > quiet+quiet/2+3 {
		t.Errorf("A burst of probes across the reload: %d in %s, against %d before", reloading, window, quiet)
	}
	if after := memberLease(t, ctx, client, "a"); after != before {
		t.Errorf("Replica a's member key moved from lease %x to %x across the reload", before, after)
	}
	for drained := false; !drained; {
		select {
		case w := <-members:
			for _, ev := range w.Events {
				if len(liveKeys([]*mvccpb.KeyValue{ev.Kv})) > 0 {
					t.Errorf("The members changed across the reload: %v", ev)
				}
			}
		default:
			drained = true
		}
	}
	if log := a.Log()[mark:]; strings.Contains(log, "joining") || strings.Contains(log, "left") {
		t.Errorf("Replica a left or joined the fleet on reload:\n%s", log)
	}
	// The new configuration answers with its TTL: the reload took.
	m, err := a.Query("www.example.org", 1, "udp")
	if err != nil || len(m.Answer) == 0 || m.Answer[0].Header().Ttl != 2 {
		t.Errorf("After the reload, a answers %v (%v), want TTL 2", m, err)
	}
}

// memberLease is the lease the named member's key is under.
func memberLease(t *testing.T, ctx context.Context, client *clientv3.Client, name string) int64 {
	t.Helper()
	resp, err := client.Get(ctx, memberKey(name))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("Member key of %s: %v, %v", name, resp, err)
	}
	return resp.Kvs[0].Lease
}

// TestFleetReloadChangesTheLine: a reload that changes the fleet line
// (here its lease) hands the member over to the new configuration: the
// targets keep their states (no answer flips back to a DOWN primary), the
// member key moves to a new lease without the member leaving.
func TestFleetReloadChangesTheLine(t *testing.T) {
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	cf := corefile(etcd.Endpoint(), b, fleetOptions{})
	rs := start(t, cf, replicas.Options{}, "a", "b", "c")
	waitAnswers(t, rs, host(b.primary), 20*time.Second)
	b.primary.Close()
	secondary := host(b.secondary)
	waitAnswers(t, rs, secondary, detection)

	client, err := etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := memberLease(t, ctx, client, "a")
	a := byName(rs, "a")
	watch := watchFlips(rs, secondary)
	if err := a.Reload(strings.Replace(cf, "lease "+lease.String(), "lease 3s", 1)); err != nil {
		t.Fatal(err)
	}
	a.WaitLog(`Fleet: member a: the fleet line changed; the new configuration takes the member over`, 5*time.Second)
	time.Sleep(3 * time.Second)
	if seen := watch.end(); len(seen) > 0 {
		t.Errorf("Answers flipped across a reload that changed the fleet line: %v", seen)
	}
	if after := memberLease(t, ctx, client, "a"); after == before {
		t.Errorf("Replica a's member key kept lease %x: the new fleet line did not take it over", before)
	}
	if strings.Contains(a.Log(), "held by another live process") || strings.Contains(a.Log(), "-> local") {
		t.Errorf("The reload made replica a wait for its own name or go local:\n%s", a.Log())
	}
}
