// Package demobackend is the demos' HTTP backends (make demo, make
// demo-fleet): one per loopback address on a shared port, each of which an
// operator can stop and start again.
package demobackend

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/failover-dns/failover/internal/loopback"
)

// IPs are the demos' backend addresses: primary, secondary, tertiary.
var IPs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

// Backend answers "backend ADDR ok" to every request while it runs.
type Backend struct {
	Addr string
	mu   sync.Mutex
	srv  *http.Server
}

// StartAll starts a backend on each of IPs, on one free port, and returns
// them with the port.
func StartAll() ([]*Backend, int, error) {
	for range 20 {
		port, err := loopback.FreePort()
		if err != nil {
			return nil, 0, err
		}
		var bs []*Backend
		for _, ip := range IPs {
			b := &Backend{Addr: net.JoinHostPort(ip, strconv.Itoa(port))}
			if err = b.Start(); err != nil {
				break
			}
			bs = append(bs, b)
		}
		if err == nil {
			return bs, port, nil
		}
		for _, b := range bs {
			b.Stop()
		}
	}
	return nil, 0, errors.New("no port free on 127.0.0.1-3 for the demo backends")
}

// Start serves on Addr until Stop.
func (b *Backend) Start() error {
	ln, err := net.Listen("tcp", b.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "backend %s ok\n", b.Addr)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go srv.Serve(ln)
	return nil
}

// Stop closes the listener and every connection: the service is down.
func (b *Backend) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

// Running reports whether it serves.
func (b *Backend) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv != nil
}
