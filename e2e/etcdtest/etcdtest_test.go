package etcdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// TestMain checks that no goroutine outlives the tests: the servers'
// and their clients' included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	s, err := Start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func get(t *testing.T, c *clientv3.Client, key string) string {
	t.Helper()
	r, err := c.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	if len(r.Kvs) == 0 {
		return ""
	}
	return string(r.Kvs[0].Value)
}

func put(t *testing.T, c *clientv3.Client, key, value string) {
	t.Helper()
	if _, err := c.Put(ctx(t), key, value); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestStopRestart writes, stops the server (its port closes), restarts it
// on the same endpoint with the data kept, and sees a client made before
// the stop, which kept the endpoint, work again.
func TestStopRestart(t *testing.T) {
	s := start(t, Options{})
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("Endpoint %q is not http on 127.0.0.1", s.Endpoint())
	}
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, "/failover/a", "1")
	if got := get(t, c, "/failover/a"); got != "1" {
		t.Fatalf("Get after Put = %q, want 1", got)
	}

	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	outside, err := clientv3.New(cfg) // a client the server does not own, as a replica's
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	// A lease kept alive and a watch: the long-lived streams of a fleet
	// member, which must not hold Stop up.
	lease, err := outside.Grant(ctx(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	keepAlive, err := outside.KeepAlive(context.Background(), lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	watch := outside.Watch(context.Background(), "/failover/", clientv3.WithPrefix())
	put(t, c, "/failover/b", "2")
	select {
	case w := <-watch:
		if len(w.Events) != 1 || string(w.Events[0].Kv.Key) != "/failover/b" {
			t.Fatalf("Watch got %+v, want the put of /failover/b", w.Events)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch got nothing")
	}
	<-keepAlive

	addr := strings.TrimPrefix(s.Endpoint(), "http://")
	began := time.Now()
	s.Stop()
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("Stop took %s with a watch and a keep-alive open; want under 3s", d)
	}
	if portOpen(addr) {
		t.Fatalf("Port %s still accepts connections after Stop", addr)
	}
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if _, err := c.Get(ctx(t), "/failover/a"); err == nil {
		t.Fatal("Client() still answers after Stop, which should have closed it")
	}

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if !portOpen(addr) {
		t.Fatalf("Restart does not listen on %s again", addr)
	}
	c, err = s.Client()
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "/failover/a"); got != "1" {
		t.Fatalf("Get after Restart = %q, want the 1 written before", got)
	}
	// The outside client reconnects by itself.
	if got := get(t, outside, "/failover/b"); got != "2" {
		t.Fatalf("The client made before the stop reads %q after Restart, want 2", got)
	}
	if _, err := outside.KeepAliveOnce(ctx(t), lease.ID); err != nil {
		t.Fatalf("The lease granted before the stop cannot be kept alive after Restart: %v", err)
	}
}

// TestCounts sees the writes of a put, a transaction and a lease both in
// etcd's metrics and in the server's request counts.
func TestCounts(t *testing.T) {
	s := start(t, Options{})
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	before, err := ReadWrites()
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, "/failover/x", "1")
	if _, err := c.Txn(ctx(t)).If(clientv3.Compare(clientv3.Value("/failover/x"), "=", "1")).
		Then(clientv3.OpPut("/failover/y", "2"), clientv3.OpPut("/failover/z", "3")).Commit(); err != nil {
		t.Fatal(err)
	}
	lease, err := c.Grant(ctx(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeepAliveOnce(ctx(t), lease.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx(t), "/failover/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	after, err := ReadWrites()
	if err != nil {
		t.Fatal(err)
	}
	got := after.Sub(before)
	// Four raft entries at least: etcd may commit its own (the cluster
	// version, set once a leader's first entry commits) at any moment.
	if got.Proposals < 4 || got.Proposals > 6 {
		t.Errorf("Proposals counted %v, want the 4 writes (and at most 2 of etcd's own)", got.Proposals)
	}
	got.Proposals = 0
	want := Writes{Puts: 3, Deletes: 1, Txns: 1, LeaseGrants: 1, LeaseRenewals: 1}
	if got != want {
		t.Errorf("Writes counted %+v, want %+v", got, want)
	}
	rpcs := s.RPCs()
	for method, n := range map[string]int64{"Put": 1, "Txn": 1, "LeaseGrant": 1, "LeaseKeepAlive": 1, "DeleteRange": 1} {
		if rpcs[method] != n {
			t.Errorf("RPCs[%s] = %d, want %d (all: %v)", method, rpcs[method], n, rpcs)
		}
	}
}

// TestAuth: the user EnableAuth makes can read and write under its prefix,
// with a lease as a fleet member does, and is refused outside it;
// requests without credentials are refused; root still reads everything.
func TestAuth(t *testing.T) {
	s := start(t, Options{})
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, "/other/key", "before")
	if err := s.EnableAuth("/failover/", "failover", "s3cret"); err != nil {
		t.Fatal(err)
	}

	u, err := s.NewClient("failover", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	lease, err := u.Grant(ctx(t), 5)
	if err != nil {
		t.Fatalf("The prefix's user cannot grant a lease: %v", err)
	}
	if _, err := u.Put(ctx(t), "/failover/v1/member", "a", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatalf("The prefix's user cannot write under its prefix: %v", err)
	}
	if _, err := u.KeepAliveOnce(ctx(t), lease.ID); err != nil {
		t.Fatalf("The prefix's user cannot keep its lease alive: %v", err)
	}
	if got := get(t, u, "/failover/v1/member"); got != "a" {
		t.Fatalf("The prefix's user reads %q under its prefix, want a", got)
	}
	if _, err := u.Put(ctx(t), "/other/key", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("The prefix's user writing outside its prefix got %v, want permission denied", err)
	}
	if _, err := u.Get(ctx(t), "/other/key"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("The prefix's user reading outside its prefix got %v, want permission denied", err)
	}
	// A prefix is a prefix of key bytes: "/failover/" does not cover "/failover2".
	if _, err := u.Put(ctx(t), "/failover2", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("The prefix's user writing /failover2 got %v, want permission denied", err)
	}
	if _, err := s.NewClient("failover", "wrong"); err == nil {
		t.Fatal("A wrong password was accepted")
	}

	anonymous, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	if _, err := anonymous.Get(ctx(t), "/failover/v1/member"); err == nil {
		t.Fatal("A request without credentials was answered")
	}

	root, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, root, "/other/key"); got != "before" {
		t.Fatalf("Root reads %q, want before", got)
	}

	// Auth survives a restart, and the user's client logs in again.
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	u2, err := s.NewClient("failover", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u2.Put(ctx(t), "/other/key", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("After a restart, writing outside the prefix got %v, want permission denied", err)
	}
	if got := get(t, u2, "/failover/v1/member"); got != "a" {
		t.Fatalf("After a restart the user reads %q, want a", got)
	}
}

// TestTLS: the endpoint is https; a client that verifies the server
// against the CA works, one that trusts other roots is refused, and with
// ClientCertAuth a client without a certificate is refused.
func TestTLS(t *testing.T) {
	for _, clientAuth := range []bool{false, true} {
		name := "ServerOnly"
		if clientAuth {
			name = "ClientCertAuth"
		}
		t.Run(name, func(t *testing.T) {
			tlsFiles := NewTLS(t, clientAuth)
			s := start(t, Options{TLS: tlsFiles})
			if !strings.HasPrefix(s.Endpoint(), "https://127.0.0.1:") {
				t.Fatalf("Endpoint %q is not https on 127.0.0.1", s.Endpoint())
			}
			c, err := s.Client()
			if err != nil {
				t.Fatal(err)
			}
			put(t, c, "/failover/tls", "1")
			if got := get(t, c, "/failover/tls"); got != "1" {
				t.Fatalf("Get over TLS = %q, want 1", got)
			}

			addr := strings.TrimPrefix(s.Endpoint(), "https://")
			good, err := tlsFiles.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			good.NextProtos = []string{"h2"}
			if err := handshake(addr, good); err != nil {
				t.Fatalf("A client verifying against the CA fails: %v", err)
			}
			other := NewTLS(t, false) // another CA
			bad, err := other.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			bad.Certificates = good.Certificates
			if err := handshake(addr, bad); err == nil {
				t.Fatal("A client trusting another CA accepted the server")
			}
			noCert := good.Clone()
			noCert.Certificates = nil
			err = handshake(addr, noCert)
			if clientAuth && err == nil {
				t.Fatal("A client without a certificate was accepted with ClientCertAuth")
			}
			if !clientAuth && err != nil {
				t.Fatalf("A client without a certificate was refused without ClientCertAuth: %v", err)
			}
		})
	}
}

// handshake completes a TLS handshake and the server's answer to a first
// read: with TLS 1.3 a server refuses a client certificate only after the
// client's handshake has returned.
func handshake(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	// An HTTP/2 preface makes the server speak: a refused certificate
	// shows as an alert on this read.
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	return err
}

// TestFixedPorts: given ports are used, and a busy one is an error.
func TestFixedPorts(t *testing.T) {
	s := start(t, Options{})
	busy := s.opts.ClientPort
	_, err := Start(t.TempDir(), Options{ClientPort: busy, PeerPort: s.opts.PeerPort, Logger: zap.NewNop()})
	if err == nil {
		t.Fatal("Start on busy ports succeeded")
	}
	s.Stop()
	s2 := start(t, Options{ClientPort: busy})
	if want := s.Endpoint(); s2.Endpoint() != want {
		t.Fatalf("Endpoint %s, want %s", s2.Endpoint(), want)
	}
	c, err := s2.Client()
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, "/k", "v")
}
