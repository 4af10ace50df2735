package fleet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
	"github.com/failover-dns/failover/internal/wait"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestFleetSecured: etcd over TLS, asking for client certificates, with
// auth on and a user whose role reaches only the fleet's prefix (the
// setup docs/fleet.md shows). Replicas take the password from the
// environment ({$FLEET_PASSWORD}), verify etcd against the CA, join, and
// fail over together; no log shows the password. A replica that trusts
// another CA does not join: it says why, and decides alone once its lease
// would have run out.
func TestFleetSecured(t *testing.T) {
	const password = "s3cret-Pa55word"
	tlsFiles := etcdtest.NewTLS(t, true)
	etcd := startEtcd(t, etcdtest.Options{TLS: tlsFiles})
	if err := etcd.EnableAuth("/failover/", "fleet", password); err != nil {
		t.Fatal(err)
	}
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	secured := "credentials fleet {$FLEET_PASSWORD}\n            tls " + tlsFiles.ClientCertFile + " " + tlsFiles.ClientKeyFile + " " + tlsFiles.CAFile
	cf := corefile(etcd.Endpoint(), b, fleetOptions{extra: secured})
	rs := start(t, cf, replicas.Options{Env: []string{"FLEET_PASSWORD=" + password}}, "a", "b", "c")
	waitAnswers(t, rs, host(b.primary), 20*time.Second)

	client, err := etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, 50*time.Millisecond, "three members", func() bool {
		resp, err := client.Get(context.Background(), memberSpace, clientPrefix())
		return err == nil && len(liveKeys(resp.Kvs)) == 3
	})
	waitProbers(t, b.primary, 2, 10*time.Second)
	b.primary.Close()
	waitAnswers(t, rs, host(b.secondary), detection)

	// A replica that verifies etcd against another CA.
	other := etcdtest.NewTLS(t, true)
	stranger := "credentials fleet {$FLEET_PASSWORD}\n            tls " + other.ClientCertFile + " " + other.ClientKeyFile + " " + other.CAFile
	d := start(t, corefile(etcd.Endpoint(), b, fleetOptions{extra: stranger}), replicas.Options{Env: []string{"FLEET_PASSWORD=" + password}}, "d")[0]
	d.WaitLog(`Fleet: member d: etcd session: connect to .*(certificate signed by unknown authority|unknown certificate authority)`, 15*time.Second)
	d.WaitLog(`Fleet: member d: joining -> local`, 15*time.Second)
	waitAnswers(t, []*replicas.Replica{d}, host(b.secondary), detection)

	for _, r := range append(rs, d) {
		if strings.Contains(r.Log(), password) {
			t.Errorf("Replica %s logged the password", r.Name)
		}
	}
}

// TestFleetConfinedByRoles: each replica with a user of its own whose role
// (docs/fleet.md's etcd roles) grants read on PREFIX/v2/ and readwrite on its
// own member space only: the fleet works (joins, fails over together), and
// one replica's credentials cannot write another member's keys, nor a key
// of a member whose name begins with its own.
func TestFleetConfinedByRoles(t *testing.T) {
	const password = "s3cret-Pa55word"
	etcd := startEtcd(t, etcdtest.Options{})
	if err := etcd.EnableAuth("/failover/", "fleet", password); err != nil {
		t.Fatal(err)
	}
	root, err := etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, name := range []string{"a", "b", "c"} {
		role := "failover-" + name
		own := memberSpace + name + "/"
		steps := []func() error{
			func() error { _, err := root.RoleAdd(ctx, role); return err },
			func() error {
				_, err := root.RoleGrantPermission(ctx, role, "/failover/v2/", clientv3.GetPrefixRangeEnd("/failover/v2/"), clientv3.PermissionType(clientv3.PermRead))
				return err
			},
			func() error {
				_, err := root.RoleGrantPermission(ctx, role, own, clientv3.GetPrefixRangeEnd(own), clientv3.PermissionType(clientv3.PermReadWrite))
				return err
			},
			func() error { _, err := root.UserAdd(ctx, name, password); return err },
			func() error { _, err := root.UserGrantRole(ctx, name, role); return err },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				t.Fatalf("Role of %s: %v", name, err)
			}
		}
	}
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	cf := corefile(etcd.Endpoint(), b, fleetOptions{extra: "credentials {$REPLICA} {$FLEET_PASSWORD}"})
	rs := start(t, cf, replicas.Options{Env: []string{"FLEET_PASSWORD=" + password}}, "a", "b", "c")
	waitAnswers(t, rs, host(b.primary), 20*time.Second)
	wait.For(t, 10*time.Second, 50*time.Millisecond, "three members", func() bool {
		resp, err := root.Get(ctx, memberSpace, clientPrefix())
		return err == nil && len(liveKeys(resp.Kvs)) == 3
	})
	waitProbers(t, b.primary, 2, 10*time.Second)

	a, err := etcd.NewClient("a", password)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{memberKey("b"), verdictKey("b", "0123"), memberKey("ab"), "/failover/v2/x"} {
		if _, err := a.Put(ctx, key, `{"state":"down"}`); err == nil {
			t.Errorf("Member a's credentials wrote %s", key)
		}
	}
	b.primary.Close()
	waitAnswers(t, rs, host(b.secondary), detection)
	for _, r := range rs {
		if strings.Contains(r.Log(), "permission denied") {
			t.Errorf("Replica %s was denied something it needs:\n%s", r.Name, r.Log())
		}
	}
}
