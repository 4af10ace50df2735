//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// scaleBackend is the other end of every target of a scale run: one
// listener on 0.0.0.0 that receives the connections CoreDNS makes to
// 127.x.y.z and closes any other at once. It counts the connections it
// holds, and their peak, which must stay within this process's own
// descriptor limit.
type scaleBackend struct {
	net.Listener
	hang     atomic.Bool   // tcp: 127.30/16 greets no more
	open     atomic.Int64  // connections held now
	peak     atomic.Int64  // most connections held at once
	accepted atomic.Uint64 // loopback connections accepted
	requests atomic.Uint64 // http: requests served
	reported atomic.Bool   // an accept error was printed
	srv      *http.Server
}

func newScaleBackend(kind string) (*scaleBackend, error) {
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return nil, err
	}
	b := &scaleBackend{Listener: ln}
	if kind == "http" {
		b.srv = &http.Server{
			Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { b.requests.Add(1) }),
			// The probes never keep a connection alive; the watch's idle
			// connection sends no request and stays until CoreDNS closes it.
			ReadHeaderTimeout: 0,
		}
		go b.srv.Serve(b)
	} else {
		go b.greet()
	}
	return b, nil
}

func (b *scaleBackend) port() int { return b.Listener.Addr().(*net.TCPAddr).Port }

func (b *scaleBackend) close() {
	if b.srv != nil {
		b.srv.Close()
		return
	}
	b.Listener.Close()
}

// Accept returns the next loopback connection, counted until it closes.
func (b *scaleBackend) Accept() (net.Conn, error) {
	for {
		c, err := b.Listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		if err != nil {
			if !b.reported.Swap(true) {
				fmt.Printf("  (backend accept: %v)\n", err)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if !c.LocalAddr().(*net.TCPAddr).IP.IsLoopback() {
			c.Close()
			continue
		}
		b.accepted.Add(1)
		n := b.open.Add(1)
		for p := b.peak.Load(); n > p && !b.peak.CompareAndSwap(p, n); p = b.peak.Load() {
		}
		return &countedConn{Conn: c, b: b}, nil
	}
}

type countedConn struct {
	net.Conn
	b    *scaleBackend
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.b.open.Add(-1) })
	return c.Conn.Close()
}

// greet greets each connection with "ok" (or, for 127.30/16 while hang is
// set, with nothing, so that its probes time out) and holds it until the
// peer closes it.
func (b *scaleBackend) greet() {
	for {
		c, err := b.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			local := c.LocalAddr().(*net.TCPAddr).IP.To4()
			if !(b.hang.Load() && local[1] == scaleHangOctet) {
				c.Write([]byte("ok\n"))
			}
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
}
