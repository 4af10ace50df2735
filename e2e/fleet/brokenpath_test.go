package fleet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
	"github.com/failover-dns/failover/internal/netns"
	"github.com/failover-dns/failover/internal/wait"
)

// TestFleetBrokenPath: replica c runs in a network namespace of its own,
// where the primary's address leads nowhere (it is c's own loopback, on
// which nothing listens), while a and b reach it fine. In a fleet where
// all three probe (probers 3, quorum a majority of 2), c's DOWN is
// outvoted and no replica moves its answers. Without the fleet, the same
// setup shows c failing over alone.
func TestFleetBrokenPath(t *testing.T) {
	netns.Needs(t, "nsenter")
	if !netns.Own(t) {
		return
	}
	peer := netns.NewPeer(t, "169.254.0.1/30", "169.254.0.2/30")
	etcd := startEtcd(t, etcdtest.Options{Host: "169.254.0.1"})
	// The primary on the loopback of a and b's namespace; the secondary
	// on the veth end that c reaches too.
	b := newPair(t, "127.0.0.21", "169.254.0.1")
	primary, secondary := host(b.primary), host(b.secondary)

	run := func(o fleetOptions) (ab, c []*replicas.Replica) {
		cf := corefile(etcd.Endpoint(), b, o)
		ab = start(t, cf, replicas.Options{}, "a", "b")
		c = start(t, cf, replicas.Options{NetNS: peer.Path(), Host: "169.254.0.2"}, "c")
		return ab, c
	}

	t.Run("fleet", func(t *testing.T) {
		ab, c := run(fleetOptions{probers: 3})
		all := append(ab, c...)
		waitAnswers(t, all, primary, 20*time.Second)
		// c's own probes fail: its verdict on the primary is DOWN.
		wait.For(t, 10*time.Second, 50*time.Millisecond, "c's verdict on the primary to be down", func() bool {
			return proberState(t, c[0], primary, "c") == "down"
		})
		holdAnswers(t, all, primary, 3*time.Second)
		if got := proberState(t, ab[0], primary, "c"); got != "down" {
			t.Errorf("Replica a sees c's verdict on the primary as %q, want down", got)
		}
		for _, r := range all {
			r.Kill()
		}
	})

	t.Run("alone", func(t *testing.T) {
		ab, c := run(fleetOptions{off: true})
		waitAnswers(t, c, secondary, 20*time.Second)
		holdAnswers(t, ab, primary, time.Second)
	})
}

// targetStatus is what the status API says of a target (the part read here).
type targetStatus struct {
	Address string `json:"address"`
	State   string `json:"state"`
	Fleet   *struct {
		Member     string `json:"member"`
		Mode       string `json:"mode"`
		ProbedHere bool   `json:"probed_here"`
		Probers    []struct {
			Member string `json:"member"`
			State  string `json:"state"`
		} `json:"probers"`
	} `json:"fleet"`
}

// statusOf reads r's status API and returns the named target.
func statusOf(t *testing.T, r *replicas.Replica, target string) targetStatus {
	t.Helper()
	addr := netip.MustParseAddrPort(r.DNS).Addr()
	url := fmt.Sprintf("http://%s/api/v1/status", netip.AddrPortFrom(addr, uint16(r.Port("STATUS_PORT"))))
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("Status of %s: %v", r.Name, err)
	}
	defer resp.Body.Close()
	var body struct {
		Pools []struct {
			Targets []targetStatus `json:"targets"`
		} `json:"pools"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("Status of %s: %v", r.Name, err)
	}
	for _, p := range body.Pools {
		for _, tg := range p.Targets {
			if tg.Address == target {
				return tg
			}
		}
	}
	t.Fatalf("Status of %s has no target %s", r.Name, target)
	return targetStatus{}
}

// proberState is the verdict of prober member on target, as r shows it:
// up, down, none (abstains), or "" when member is not one of its probers.
func proberState(t *testing.T, r *replicas.Replica, target, member string) string {
	t.Helper()
	st := statusOf(t, r, target)
	if st.Fleet == nil {
		t.Fatalf("Replica %s shows no fleet for %s", r.Name, target)
	}
	for _, p := range st.Fleet.Probers {
		if p.Member == member {
			return p.State
		}
	}
	return ""
}
