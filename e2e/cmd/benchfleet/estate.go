//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failover-dns/failover/internal/loopback"
)

const (
	targetsPerPool = 4
	estateTimeout  = time.Second
	fleetLease     = 10 * time.Second // the fleet directive's default, written out
	killName       = "kill.example.org"
	killPrimary    = "127.0.0.40"
	killSecondary  = "127.0.0.41"
	// The kill pair's timings: a backend that dies is DOWN after fall 2
	// (its connection watch wakes a round, refused: hard evidence), back
	// after rise 2.
	killInterval = time.Second
)

// replicaPorts are a replica's listeners on 127.0.0.1.
type replicaPorts struct{ dns, metrics, pprof int }

// estateTarget is the address of target i: 127.20.0.1 on, 250 to a /24
// (as bench/scale.go's estates).
func estateTarget(i int) string {
	return fmt.Sprintf("127.%d.%d.%d", 20+i/62500, i/250%250, i%250+1)
}

func poolName(p int) string { return fmt.Sprintf("p%05d.example.org", p) }

// corefile is replica member's configuration: the kill pair's pool and
// the estate's pools, in a fleet through endpoint unless endpoint is "".
func corefile(member, endpoint string, p replicaPorts, o options, estatePort, killPort int) string {
	var cf strings.Builder
	fmt.Fprintf(&cf, ".:%d {\n    bind 127.0.0.1\n    prometheus 127.0.0.1:%d\n    pprof 127.0.0.1:%d\n    failover example.org {\n",
		p.dns, p.metrics, p.pprof)
	if endpoint != "" {
		fmt.Fprintf(&cf, "        fleet etcd %s {\n            member %s\n            probers %d\n            lease %s\n        }\n",
			endpoint, member, probers, fleetLease)
	}
	fmt.Fprintf(&cf, `        pool %s {
            target %s priority 1
            target %s priority 2
            check http://%s:%d/
            interval %s
            fast_interval 200ms
            timeout 500ms
            rise 2
            fall 2
            ttl 1
        }
`, killName, killPrimary, killSecondary, killName, killPort, killInterval)
	for p := range o.targets / targetsPerPool {
		fmt.Fprintf(&cf, "        pool %s {\n", poolName(p))
		for t := range targetsPerPool {
			fmt.Fprintf(&cf, "            target %s priority %d\n", estateTarget(p*targetsPerPool+t), t+1)
		}
		fmt.Fprintf(&cf, "            check tcp://%s:%d {\n                expect ok\n            }\n", poolName(p), estatePort)
		fmt.Fprintf(&cf, "            interval %s\n            timeout %s\n            watch off\n        }\n", o.interval, estateTimeout)
	}
	cf.WriteString("    }\n}\n")
	return cf.String()
}

// estateBackend is the other end of every estate target: one listener on
// 0.0.0.0 that receives the connections the replicas make to 127.x.y.z
// (closing any other at once), greets each with "ok" and holds it until
// the prober closes it. It counts the connections: one per probe.
type estateBackend struct {
	ln       net.Listener
	accepted atomic.Uint64
	wg       sync.WaitGroup
}

func newEstateBackend() (*estateBackend, error) {
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return nil, err
	}
	b := &estateBackend{ln: ln}
	b.wg.Go(b.serve)
	return b, nil
}

func (b *estateBackend) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

func (b *estateBackend) close() {
	b.ln.Close()
	b.wg.Wait()
}

func (b *estateBackend) serve() {
	for {
		c, err := b.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if !c.LocalAddr().(*net.TCPAddr).IP.IsLoopback() {
			c.Close()
			continue
		}
		b.accepted.Add(1)
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("ok\n"))
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
}

// killPair is the pool whose primary the agreement figure kills: HTTP
// backends on killPrimary and killSecondary, one port.
type killPair struct {
	port               int
	primary, secondary *httpBackend
}

func newKillPair() (*killPair, error) {
	for range 20 {
		port, err := loopback.FreePort()
		if err != nil {
			return nil, err
		}
		p := &httpBackend{addr: net.JoinHostPort(killPrimary, strconv.Itoa(port))}
		s := &httpBackend{addr: net.JoinHostPort(killSecondary, strconv.Itoa(port))}
		if err := p.start(); err != nil {
			continue
		}
		if err := s.start(); err != nil {
			p.stop()
			continue
		}
		return &killPair{port: port, primary: p, secondary: s}, nil
	}
	return nil, errors.New("no port free on both " + killPrimary + " and " + killSecondary)
}

func (k *killPair) close() {
	k.primary.stop()
	k.secondary.stop()
}

// httpBackend answers 200 to every request until stopped; stopping closes
// its listener and every connection, as a process's death would.
type httpBackend struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func (b *httpBackend) start() error {
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go srv.Serve(ln)
	return nil
}

func (b *httpBackend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}
