package replicas

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TagHeader is the request header by which a probe may name the replica
// that sent it, should a test want to tag probes in the Corefile
// ('header X-Replica {$REPLICA}' in the check). Untagged probes are
// attributed by the process that opened the connection.
const TagHeader = "X-Replica"

// Backend is an HTTP server standing for a health-checked service: it
// answers every request with its status (200 "ok" unless set) and counts
// the requests by the replica that sent them. The plugin's checks have no
// source-address option and replicas on one host all connect from
// 127.0.0.1, so a request is attributed to a replica by its TagHeader if
// it has one, else by the replica process that holds the connection's
// other end (see ownerOf: Linux only, and only among replicas this package
// started). A probe whose replica had closed its end by the time the
// backend accepted the connection (it gave up, or died) is counted under
// "", unattributed.
type Backend struct {
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	status   int
	byName   map[string]int // replica name ("" when unattributed) -> requests
	bySource map[string]int // remote IP -> requests
}

type ownerKey struct{}

// NewBackend serves on addr (host:port; port 0 picks one) until the test
// ends.
func NewBackend(t testing.TB, addr string) *Backend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &Backend{ln: ln, status: http.StatusOK, byName: map[string]int{}, bySource: map[string]int{}}
	b.srv = &http.Server{
		Handler:           http.HandlerFunc(b.serve),
		ReadHeaderTimeout: 10 * time.Second,
		// Who holds the connection's other end is looked up once, as soon
		// as it is accepted (a replica that gives up on a probe closes its
		// end), but not in the accept loop, which it would slow down.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			owner := make(chan string, 1)
			go func() {
				name := ""
				if r := ownerOf(c); r != nil {
					name = r.Name
				}
				owner <- name
			}()
			return context.WithValue(ctx, ownerKey{}, sync.OnceValue(func() string { return <-owner }))
		},
	}
	go b.srv.Serve(ln)
	t.Cleanup(b.Close)
	return b
}

func (b *Backend) serve(w http.ResponseWriter, req *http.Request) {
	name := req.Header.Get(TagHeader)
	if name == "" {
		name = req.Context().Value(ownerKey{}).(func() string)()
	}
	source, _, _ := net.SplitHostPort(req.RemoteAddr)
	b.mu.Lock()
	b.byName[name]++
	b.bySource[source]++
	status := b.status
	b.mu.Unlock()
	w.WriteHeader(status)
	w.Write([]byte("ok"))
}

// Addr is the address it listens on, host:port.
func (b *Backend) Addr() string { return b.ln.Addr().String() }

// Port is the port it listens on.
func (b *Backend) Port() string {
	_, port, _ := net.SplitHostPort(b.Addr())
	return port
}

// URL is http://Addr/.
func (b *Backend) URL() string { return "http://" + b.Addr() + "/" }

// SetStatus sets the HTTP status of its answers: e.g. 503 to fail the
// checks that expect 2xx.
func (b *Backend) SetStatus(code int) {
	b.mu.Lock()
	b.status = code
	b.mu.Unlock()
}

// Probes is how many requests the replica named name has sent.
func (b *Backend) Probes(name string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byName[name]
}

// ByReplica counts the requests by replica name; the key "" counts those
// that could not be attributed.
func (b *Backend) ByReplica() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.byName)
}

// BySource counts the requests by source address: what tells replicas
// apart when each runs in a network namespace with its own address.
func (b *Backend) BySource() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.bySource)
}

// Total is how many requests it has answered.
func (b *Backend) Total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.byName {
		n += c
	}
	return n
}

// Reset forgets the counts.
func (b *Backend) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.byName)
	clear(b.bySource)
}

// Close stops serving and closes every connection: the service is down.
func (b *Backend) Close() { b.srv.Close() }

// String describes the counts, for test messages ("" is unattributed).
func (b *Backend) String() string {
	return fmt.Sprintf("backend %s, requests by replica %v", b.Addr(), b.ByReplica())
}
