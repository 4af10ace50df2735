package status

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a status listener that the Corefile does not set; README.md
// documents them.
const (
	DefaultMaxConns       = 64
	DefaultWriteTimeout   = 10 * time.Second
	DefaultStreamLifetime = 5 * time.Minute
	// A client (an IPv4 address, an IPv6 /64) may hold this share of
	// max_streams, at least one stream.
	streamShareDivisor = 4
)

func (c *Config) maxConns() int { return orDefault(c.MaxConns, DefaultMaxConns) }

func (c *Config) maxStreams() int { return orDefault(c.MaxStreams, DefaultMaxStreams) }

func (c *Config) maxStreamsPerClient() int { return max(1, c.maxStreams()/streamShareDivisor) }

func (c *Config) writeTimeout() time.Duration { return orDefault(c.WriteTimeout, DefaultWriteTimeout) }

func (c *Config) streamLifetime() time.Duration {
	return orDefault(c.StreamLifetime, DefaultStreamLifetime)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// connLimit closes the connections accepted beyond the cap in force at
// once: a client that opens many and never finishes a request cannot make
// the process hold an unbounded number of them. Closing rather than leaving
// them in the kernel's backlog tells a client at once.
type connLimit struct {
	net.Listener
	s *Server
}

func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.s.conns.acquire(l.s.cfg.Load().maxConns()) {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, release: sync.OnceFunc(l.s.conns.release)}, nil
	}
}

// connCount counts the open connections of a listener.
type connCount struct{ n atomic.Int64 }

func (c *connCount) acquire(limit int) bool {
	if c.n.Add(1) > int64(limit) {
		c.n.Add(-1)
		return false
	}
	return true
}

func (c *connCount) release() { c.n.Add(-1) }

func (c *connCount) open() int { return int(c.n.Load()) }

// countedConn gives its place back when it closes (once, however often
// it is closed).
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// streamSlots caps the event streams open at once, in all and per client.
type streamSlots struct {
	mu       sync.Mutex
	n        int
	byClient map[string]int
}

const (
	slotTaken = iota
	slotsFull
	clientShareFull
)

func (c *streamSlots) acquire(client string, limit, perClient int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.n >= limit:
		return slotsFull
	case c.byClient[client] >= perClient:
		return clientShareFull
	}
	if c.byClient == nil {
		c.byClient = map[string]int{}
	}
	c.n++
	c.byClient[client]++
	return slotTaken
}

func (c *streamSlots) release(client string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.byClient[client]--; c.byClient[client] <= 0 {
		delete(c.byClient, client)
	}
}

func (c *streamSlots) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// clientOf names the client a request comes from for its share of the
// stream slots: its IPv4 address, or the /64 of its IPv6 address (one host
// commonly holds a whole /64).
func clientOf(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return a.String()
}

// boundedWrites gives every response a write deadline, so that a client
// that never reads cannot hold its connection and its response: the write
// fails and the connection closes. The event stream replaces it with one
// per write.
func (s *Server) boundedWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.Load().writeTimeout()))
		next.ServeHTTP(w, r)
	})
}

// rebindingSafe refuses, when no token protects the listener, a request
// addressed to a name other than localhost or the listener's own host: a
// web page on another site whose name an attacker re-points at this
// listener (DNS rebinding) sends its own name as Host, and would
// otherwise read the pools' internal addresses.
func (s *Server) rebindingSafe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := s.cfg.Load()
		if cfg.Token == "" && !hostAllowed(r.Host, listenHost(cfg.Addr)) {
			writeError(w, http.StatusMisdirectedRequest, "without a token this status listener answers only requests addressed to an IP address, localhost or its own host "+
				"(a page under another name could read it through DNS rebinding): open it as http://IP:PORT/, or give it a token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed says whether a Host header names an IP address, localhost or
// listen (the host of the status address), with or without a port.
func hostAllowed(host, listen string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if inner, ok := strings.CutPrefix(host, "["); ok {
		host = strings.TrimSuffix(inner, "]")
	}
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return strings.EqualFold(host, "localhost") || strings.EqualFold(host, listen)
}

// listenHost is the host part of a status address ("" when it has none).
func listenHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return host
}
