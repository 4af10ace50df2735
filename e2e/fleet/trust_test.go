package fleet

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
	"github.com/failover-dns/failover/internal/wait"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The fleet's trust in what etcd holds, against a forger that has the
// credentials every replica shares (written here, with its own client):
// it cannot add members, make its verdicts count, keep a real prober's
// verdict overwritten, nor push values out of bounds into a replica.

// forgeHold is how long the answers must hold while a forgery stands: a
// counted forgery moves them within a watch's round trip.
const forgeHold = 3 * time.Second

// published is what the fleet holds in etcd: each target's verdict keys
// by member, and each member key's lease.
type published struct {
	verdicts map[string][]string // target ID -> members with a verdict
	leases   map[string]int64    // member -> its key's lease
}

// readPublished reads the keys under memberSpace.
func readPublished(t *testing.T, client *clientv3.Client) published {
	t.Helper()
	resp, err := client.Get(t.Context(), memberSpace, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	p := published{verdicts: map[string][]string{}, leases: map[string]int64{}}
	for _, kv := range resp.Kvs {
		member, rest, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), memberSpace), "/")
		if target, ok := strings.CutPrefix(rest, "v/"); ok {
			p.verdicts[target] = append(p.verdicts[target], member)
		} else if rest == "live" {
			p.leases[member] = kv.Lease
		}
	}
	return p
}

// settled starts replicas a, b and c on the pair and waits until each of
// the two targets has its two probers' verdicts in etcd.
func settled(t *testing.T, notify string) (*etcdtest.Server, pair, []*replicas.Replica, published) {
	t.Helper()
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	rs := start(t, corefile(etcd.Endpoint(), b, fleetOptions{notify: notify}), replicas.Options{}, "a", "b", "c")
	waitAnswers(t, rs, host(b.primary), 20*time.Second)
	client, err := etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	var p published
	wait.For(t, 10*time.Second, 50*time.Millisecond, "two verdicts on each of two targets", func() bool {
		p = readPublished(t, client)
		if len(p.verdicts) != 2 {
			return false
		}
		for _, members := range p.verdicts {
			if len(members) != 2 {
				return false
			}
		}
		return true
	})
	return etcd, b, rs, p
}

// forger is a client of its own, with the shared credentials.
func forger(t *testing.T, etcd *etcdtest.Server) *clientv3.Client {
	t.Helper()
	c, err := etcd.NewClient("", "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func forge(t *testing.T, c *clientv3.Client, key, value string, opts ...clientv3.OpOption) {
	t.Helper()
	if _, err := c.Put(t.Context(), key, value, opts...); err != nil {
		t.Fatal(err)
	}
}

// downVerdict is a DOWN verdict as a prober writes it.
func downVerdict(since string, extra string) string {
	return `{"state":"down","since":"` + since + `","reason":"refused"` + extra + `}`
}

// TestFleetIgnoresUnleasedMembers: 24 member keys without a lease and
// their DOWN verdicts on each target in turn move no answer, and the
// primary's real death is still notified (no fake member notifies).
func TestFleetIgnoresUnleasedMembers(t *testing.T) {
	hook, count := webhook(t)
	etcd, b, rs, p := settled(t, hook)
	f := forger(t, etcd)
	now := time.Now().UTC().Format(time.RFC3339)
	for i := range 24 {
		forge(t, f, memberKey(fmt.Sprintf("fake%02d", i)), `{"joined":"`+now+`"}`)
	}
	for target := range p.verdicts {
		for i := range 24 {
			forge(t, f, verdictKey(fmt.Sprintf("fake%02d", i), target), downVerdict(now, ""))
		}
		holdAnswers(t, rs, host(b.primary), forgeHold)
		for i := range 24 {
			f.Delete(t.Context(), verdictKey(fmt.Sprintf("fake%02d", i), target))
		}
	}
	for _, r := range rs {
		for _, addr := range []string{host(b.primary), host(b.secondary)} {
			for _, p := range statusOf(t, r, addr).Fleet.Probers {
				if strings.HasPrefix(p.Member, "fake") {
					t.Errorf("Replica %s has member %s probe %s", r.Name, p.Member, addr)
				}
			}
		}
	}
	b.primary.Close()
	waitAnswers(t, rs, host(b.secondary), detection)
	wait.For(t, 5*time.Second, 20*time.Millisecond, "target_down to be notified", func() bool { return count("target_down") >= 1 })
	if !strings.Contains(strings.Join(logs(rs), ""), `Fleet: ignoring "`+memberSpace+"fake") {
		t.Errorf("No replica logged an ignored member key, quoted")
	}
}

// TestFleetRewritesForgedVerdicts: a real prober's verdict overwritten
// with DOWN, without a lease and then under another lease, moves no
// answer, and its owner writes it back under its own lease at once; a
// member key overwritten without a lease is registered again.
func TestFleetRewritesForgedVerdicts(t *testing.T) {
	etcd, b, rs, p := settled(t, "")
	f := forger(t, etcd)
	other, err := f.Grant(t.Context(), 60)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, lease := range []clientv3.LeaseID{0, other.ID} {
		for target, members := range p.verdicts {
			for _, m := range members {
				forge(t, f, verdictKey(m, target), downVerdict(now, ""), clientv3.WithLease(lease))
			}
			holdAnswers(t, rs, host(b.primary), forgeHold)
			for _, m := range members {
				waitOwnVerdict(t, f, m, target, p.leases[m])
			}
		}
	}
	// A member key rewritten without a lease: its member registers again.
	forge(t, f, memberKey("a"), "{}")
	wait.For(t, 10*time.Second, 50*time.Millisecond, "a's member key under a lease again", func() bool {
		resp, err := f.Get(t.Context(), memberKey("a"))
		return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != 0 && string(resp.Kvs[0].Value) != "{}"
	})
	holdAnswers(t, rs, host(b.primary), forgeHold)
}

// waitOwnVerdict waits until member's verdict on target is UP again,
// under the member's lease.
func waitOwnVerdict(t *testing.T, c *clientv3.Client, member, target string, lease int64) {
	t.Helper()
	wait.For(t, 5*time.Second, 20*time.Millisecond, member+"'s verdict on "+target+" written back", func() bool {
		resp, err := c.Get(t.Context(), verdictKey(member, target))
		return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease == lease && strings.Contains(string(resp.Kvs[0].Value), `"state":"up"`)
	})
}

// TestFleetRejectsVerdictsOutOfBounds: DOWN verdicts written under the
// real probers' own keys and leases (the forger reads the leases) but out
// of bounds are refused by every replica: a 1 MB detail that would inject
// a log line, since year 1 or 9999, an RTT of 2^63-1 ns. No answer moves,
// no line is injected, the events stay small, the owners write back.
func TestFleetRejectsVerdictsOutOfBounds(t *testing.T) {
	etcd, b, rs, p := settled(t, "")
	f := forger(t, etcd)
	now := time.Now().UTC().Format(time.RFC3339)
	huge := `,"detail":"x\n[ERROR] plugin/failover: FAKE ` + strings.Repeat("y", 1<<20) + `"`
	for _, value := range []string{
		downVerdict(now, huge),
		downVerdict("0001-01-01T00:00:00Z", ""),
		downVerdict("9999-12-31T23:59:59Z", ""),
		downVerdict(now, `,"rtt_ns":9223372036854775807`),
	} {
		for target, members := range p.verdicts {
			for _, m := range members {
				forge(t, f, verdictKey(m, target), value, clientv3.WithLease(clientv3.LeaseID(p.leases[m])))
			}
			holdAnswers(t, rs, host(b.primary), forgeHold)
			for _, m := range members {
				waitOwnVerdict(t, f, m, target, p.leases[m])
			}
		}
	}
	injected := regexp.MustCompile(`(?m)^\S*\s*\[ERROR\] plugin/failover: FAKE`)
	for _, r := range rs {
		if injected.MatchString(r.Log()) {
			t.Errorf("Replica %s logged an injected line", r.Name)
		}
		if n := eventsSize(t, r); n > 64<<10 {
			t.Errorf("Replica %s's events take %d bytes", r.Name, n)
		}
	}
}

// eventsSize is the size of r's event API's answer.
func eventsSize(t *testing.T, r *replicas.Replica) int {
	t.Helper()
	addr := netip.MustParseAddrPort(r.DNS).Addr()
	url := fmt.Sprintf("http://%s/api/v1/events?limit=1000", netip.AddrPortFrom(addr, uint16(r.Port("STATUS_PORT"))))
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("Events of %s: %v", r.Name, err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	return int(n)
}

func logs(rs []*replicas.Replica) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Log())
	}
	return out
}
