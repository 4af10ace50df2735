package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/test"
	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/internal/wait"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

// TestFleetReloadsLeakNothing runs CoreDNS in this process with a fleet,
// reloads it twenty times (keeping the fleet, changing its lease, dropping
// and adding it back, and a reload that fails), stops it, and finds no
// goroutine and no socket left: the fleet's session, keep-alives, watch,
// publisher and etcd client all end with the last configuration using them.
func TestFleetReloadsLeakNothing(t *testing.T) {
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	corefile := func(i int) string {
		fleet := fmt.Sprintf("fleet etcd %s {\n            member leak\n            lease %ds\n        }", etcd.Endpoint(), 2+i%2)
		if i%5 == 4 {
			fleet = "" // no fleet in this one
		}
		return fmt.Sprintf(`example.org:0 {
    failover {
        %s
        pool www.example.org {
            target %s
            target %s priority 2
            check http://www.example.org:%s/
            interval 200ms
            timeout 150ms
        }
    }
}`, fleet, host(b.primary), host(b.secondary), b.port)
	}
	// The etcd server, its client for the test and the backends run for
	// the whole test: what runs now is not the fleet's.
	waitMembers(t, etcd, 0)
	time.Sleep(100 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()
	fds := openFDs(t)

	inst, _, _, err := test.CoreDNSServerAndPorts(corefile(0))
	if err != nil {
		t.Fatal(err)
	}
	waitMembers(t, etcd, 1)
	for i := 1; i <= 20; i++ {
		cf := corefile(i)
		if i == 10 {
			cf = strings.Replace(cf, "target ", "target nonsense ", 1) // fails to load
		}
		next, err := inst.Restart(test.NewInput(cf))
		if i == 10 {
			if err == nil {
				t.Fatal("A broken Corefile reloaded")
			}
			continue
		}
		if err != nil {
			t.Fatalf("Reload %d: %v", i, err)
		}
		inst = next
	}
	waitMembers(t, etcd, 1)
	stop(inst)

	// The lease was revoked: peers take over at once, not after the lease.
	stopped := time.Now()
	waitMembers(t, etcd, 0)
	if d := time.Since(stopped); d > time.Second {
		t.Errorf("The member key went %s after the stop, want at once (the lease revoked)", d)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("Goroutines left after 20 reloads with a fleet and a stop:\n%v", err)
	}
	wait.For(t, 5*time.Second, 50*time.Millisecond, "sockets to close", func() bool { return openFDs(t) <= fds })
}

func stop(inst *caddy.Instance) {
	inst.ShutdownCallbacks()
	inst.Stop()
	inst.Wait()
}

// waitMembers waits until n members are registered in etcd.
func waitMembers(t *testing.T, etcd *etcdtest.Server, n int) {
	t.Helper()
	client, err := etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, 50*time.Millisecond, fmt.Sprintf("%d members in etcd", n), func() bool {
		resp, err := client.Get(t.Context(), memberSpace, clientPrefix())
		return err == nil && len(liveKeys(resp.Kvs)) == n
	})
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("/proc", "self", "fd"))
	if err != nil {
		t.Skipf("Cannot count file descriptors: %v", err)
	}
	return len(entries)
}

func clientPrefix() clientv3.OpOption { return clientv3.WithPrefix() }
