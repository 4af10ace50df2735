package status

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says where and how a status listener serves.
type Config struct {
	Addr string
	// TLS serves HTTPS with this certificate when set.
	TLS *tls.Certificate
	// Token, when set, must come with every request as "Authorization: Bearer TOKEN".
	Token string
	// MaxStreams caps the event streams open at once (0: DefaultMaxStreams);
	// one client may hold a quarter of them (at least one).
	MaxStreams int

	// The bounds below have no Corefile property (0: the default); tests
	// shorten them.

	// MaxConns caps the connections open at once (DefaultMaxConns).
	MaxConns int
	// WriteTimeout bounds writing a response (DefaultWriteTimeout), and
	// each write of an event stream.
	WriteTimeout time.Duration
	// StreamLifetime ends an event stream (DefaultStreamLifetime), so that
	// one whose client never reads gives its slot back; a client resumes
	// with Last-Event-ID and misses nothing.
	StreamLifetime time.Duration
}

// Conflict names the first listener property that c and o give
// differently ("" when none does): server blocks naming one address share
// one listener, so they must configure it alike.
func (c Config) Conflict(o Config) string {
	switch {
	case !sameCertificate(c.TLS, o.TLS):
		return "tls"
	case c.Token != o.Token:
		return "token"
	case c.maxStreams() != o.maxStreams():
		return "max_streams"
	case c.maxConns() != o.maxConns(), c.writeTimeout() != o.writeTimeout(), c.streamLifetime() != o.streamLifetime():
		return "limits"
	}
	return ""
}

func sameCertificate(a, b *tls.Certificate) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.EqualFunc(a.Certificate, b.Certificate, bytes.Equal)
}

// Server is a status listener. Every server block (and both generations
// during a reload) naming one address shares it: Acquire before Release
// keeps it open, so a reload never refuses a connection.
type Server struct {
	addr    string
	leases  []*Lease // guarded by servers; the last one's configuration is served
	cfg     atomic.Pointer[Config]
	source  atomic.Pointer[Source]
	ln      net.Listener
	srv     *http.Server
	done    chan struct{}
	closing chan struct{} // closed when the listener closes: streams end
	streams streamSlots
	conns   connCount
}

var servers = struct {
	sync.Mutex
	byAddr map[string]*Server
}{byAddr: map[string]*Server{}}

// Lease is one holder's use of a shared listener.
type Lease struct {
	s   *Server
	cfg Config
	src Source
}

// Acquire returns a lease on the listener on cfg.Addr, opening it if none
// is open, and makes cfg and src the ones it serves with: the newest lease
// wins, and when it is released (a reload that failed, say) the newest
// remaining one's configuration applies again. Every Acquire needs a Release.
func Acquire(cfg Config, src Source) (*Lease, error) {
	servers.Lock()
	defer servers.Unlock()
	s := servers.byAddr[cfg.Addr]
	if s == nil {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, err
		}
		s = &Server{addr: cfg.Addr, ln: ln, done: make(chan struct{}), closing: make(chan struct{})}
		s.srv = &http.Server{
			Handler:           s.routes(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			IdleTimeout:       time.Minute,
			// Failed handshakes and dropped clients are the clients' business.
			ErrorLog: log.New(io.Discard, "", 0),
		}
		servers.byAddr[cfg.Addr] = s
		go func() {
			defer close(s.done)
			s.srv.Serve(&tlsSwitch{Listener: &connLimit{Listener: ln, s: s}, s: s})
		}()
	}
	l := &Lease{s: s, cfg: cfg, src: src}
	s.leases = append(s.leases, l)
	s.serveNewest()
	return l, nil
}

// serveNewest makes the newest lease's configuration and source the ones
// served. Called with servers held.
func (s *Server) serveNewest() {
	if len(s.leases) == 0 {
		return
	}
	l := s.leases[len(s.leases)-1]
	s.cfg.Store(&l.cfg)
	s.source.Store(&l.src)
}

// Addr returns the address the listener is bound to.
func (l *Lease) Addr() net.Addr { return l.s.ln.Addr() }

// Release ends the lease; the last one closes the listener and ends its
// connections (within a second).
func (l *Lease) Release() {
	s := l.s
	servers.Lock()
	if i := slices.Index(s.leases, l); i >= 0 {
		s.leases = slices.Delete(s.leases, i, i+1)
	}
	s.serveNewest()
	last := len(s.leases) == 0
	if last {
		delete(servers.byAddr, s.addr)
	}
	servers.Unlock()
	if !last {
		return
	}
	close(s.closing)
	// Requests are short and streams end on closing; what is left after a
	// moment is a client's idle or never-used connection.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
}

// Running returns how many status listeners are open.
func Running() int {
	servers.Lock()
	defer servers.Unlock()
	return len(servers.byAddr)
}

// tlsSwitch wraps each accepted connection in TLS when the configuration in
// force says so, so that a reload can turn HTTPS on or change the
// certificate without closing the listener.
type tlsSwitch struct {
	net.Listener
	s *Server
}

func (l *tlsSwitch) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if cert := l.s.cfg.Load().TLS; cert != nil {
		return tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}), nil
	}
	return c, nil
}

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/status", s.handleStatus)
	api.HandleFunc("GET /api/v1/events", s.handleEvents)
	api.HandleFunc("GET /api/v1/events/stream", s.handleStream)
	mux := http.NewServeMux()
	mux.Handle("/api/", s.authorized(api))
	mux.Handle("/", pageHandler())
	return s.boundedWrites(readOnly(s.rebindingSafe(mux)))
}

// readOnly allows only GET and HEAD.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "the status listener is read-only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized requires the bearer token when one is configured.
func (s *Server) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token := s.cfg.Load().Token; token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="failover"`)
				writeError(w, http.StatusUnauthorized, "a bearer token is required")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("pool")
	pools := (*s.source.Load()).Pools(filter)
	if filter != "" && len(pools) == 0 {
		writeError(w, http.StatusNotFound, "no pool is named "+filter)
		return
	}
	if pools == nil {
		pools = []Pool{}
	}
	writeJSON(w, http.StatusOK, struct {
		Pools []Pool `json:"pools"`
	}{pools})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}
