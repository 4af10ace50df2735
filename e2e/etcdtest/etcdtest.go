// Package etcdtest runs a real etcd server inside the test (or demo)
// process, listening on 127.0.0.1 only: for the fleet's end-to-end tests,
// its benchmarks and the demo. It is a one-member cluster with its data in
// a directory the caller names, so that it can be stopped and started
// again with its data, on the same ports, while clients keep their
// endpoint.
package etcdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failover-dns/failover/internal/loopback"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/crypto/bcrypt"
)

// StartTimeout bounds how long Start and Restart wait for the server to
// elect itself and serve.
const StartTimeout = 20 * time.Second

// Options says how to run the server. The zero value is a plain (http)
// server on free ports that logs only errors.
type Options struct {
	// ClientPort and PeerPort are the ports on 127.0.0.1; 0 picks a free
	// one (kept by Restart).
	ClientPort, PeerPort int
	// Host is the client address (an IP) besides the peer's 127.0.0.1:
	// e.g. a veth end that replicas in another network namespace reach.
	// Default 127.0.0.1.
	Host string
	// TLS serves clients over TLS (https endpoint); nil serves plain
	// http. The peer port, which no one else uses, stays plain.
	TLS *TLS
	// Logger receives the server's log; nil logs errors to stderr. A test
	// may pass zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).
	Logger *zap.Logger
}

// Server is an embedded etcd. Its methods may be called from several
// goroutines.
type Server struct {
	dir  string
	opts Options
	rpcs *rpcCounter
	// stopping silences the log while Stop closes the server.
	stopping atomic.Bool

	mu      sync.Mutex
	etcd    *embed.Etcd // nil while stopped
	clients []*clientv3.Client
	shared  *clientv3.Client // Client's
	// rootPassword is set by EnableAuth: the server's own clients then
	// authenticate as root.
	rootPassword string
}

// Start starts a server keeping its data in dir (created if missing; an
// existing member's data is reused). It returns once the server serves
// clients.
func Start(dir string, opts Options) (*Server, error) {
	s := &Server{dir: dir, opts: opts, rpcs: newRPCCounter()}
	picked := opts.ClientPort == 0 || opts.PeerPort == 0
	for attempt := 0; ; attempt++ {
		if err := s.pickPorts(); err != nil {
			return nil, err
		}
		err := s.start()
		if err == nil {
			return s, nil
		}
		// Another process may take a free port between its choice and
		// etcd's listen: choose again.
		if !picked || attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		s.opts.ClientPort, s.opts.PeerPort = opts.ClientPort, opts.PeerPort
	}
}

func (s *Server) pickPorts() error {
	if s.opts.ClientPort != 0 && s.opts.PeerPort != 0 {
		return nil
	}
	ports, err := loopback.FreePorts(2)
	if err != nil {
		return err
	}
	if s.opts.ClientPort == 0 {
		s.opts.ClientPort = ports[0]
	}
	if s.opts.PeerPort == 0 {
		s.opts.PeerPort = ports[1]
	}
	return nil
}

func (s *Server) clientURL() url.URL {
	scheme := "http"
	if s.opts.TLS != nil {
		scheme = "https"
	}
	host := s.opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(s.opts.ClientPort))}
}

func (s *Server) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = s.dir
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(s.opts.PeerPort)}
	client := s.clientURL()
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	if t := s.opts.TLS; t != nil {
		cfg.ClientTLSInfo.CertFile = t.CertFile
		cfg.ClientTLSInfo.KeyFile = t.KeyFile
		if t.ClientCertAuth {
			// etcd asks every client for a certificate once it has a
			// trusted CA, whatever ClientCertAuth says.
			cfg.ClientTLSInfo.TrustedCAFile = t.CAFile
			cfg.ClientTLSInfo.ClientCertAuth = true
		}
	}
	lg := s.opts.Logger
	if lg == nil {
		lg = quietLogger()
	}
	// etcd logs errors while it closes (servers closed under their
	// accept loops): silence the log from Stop on.
	lg = lg.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &stoppingCore{c, &s.stopping} }))
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	// Tests and demos: no durability across a machine crash, which
	// makes writes cheap; data survives Stop and Restart all the same.
	cfg.UnsafeNoFsync = true
	// The cheapest password hashing: users are added in tests.
	cfg.BcryptCost = uint(bcrypt.MinCost)
	// Count the requests this server receives (see RPCs); and end the
	// clients' long-lived streams (watches, lease keep-alives) when the
	// server stops, rather than waiting out etcd's request timeout (7s).
	cfg.GRPCAdditionalServerOptions = s.rpcs.serverOptions()
	return cfg
}

var (
	quietOnce sync.Once
	quiet     *zap.Logger
)

// quietLogger logs errors to stderr.
func quietLogger() *zap.Logger {
	quietOnce.Do(func() {
		c := zap.NewProductionConfig()
		c.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
		c.Sampling = nil
		var err error
		if quiet, err = c.Build(); err != nil {
			quiet = zap.NewNop()
		}
	})
	return quiet
}

func (s *Server) start() error {
	s.stopping.Store(false)
	e, err := embed.StartEtcd(s.config())
	if err != nil {
		return fmt.Errorf("starting etcd in %s: %w", s.dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("starting etcd in %s: %w", s.dir, err)
	case <-time.After(StartTimeout):
		e.Close()
		return fmt.Errorf("etcd in %s did not become ready within %s", s.dir, StartTimeout)
	}
	s.mu.Lock()
	s.etcd = e
	s.mu.Unlock()
	return nil
}

// Endpoint is the URL clients dial: http://127.0.0.1:PORT, or https://
// with TLS. It stays the same across Stop and Restart.
func (s *Server) Endpoint() string {
	u := s.clientURL()
	return u.String()
}

// Dir is the data directory.
func (s *Server) Dir() string { return s.dir }

// Stop closes the server's clients (those of Client and NewClient), then
// the server, and returns once its ports are free and its goroutines have
// ended. Clients made elsewhere stay open and retry. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	clients := s.clients
	s.clients, s.shared = nil, nil
	e := s.etcd
	s.etcd = nil
	s.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	if e == nil {
		return
	}
	s.stopping.Store(true)
	s.rpcs.endStreams()
	e.Close()
	<-e.Server.StopNotify()
}

// Restart starts the server again with the same data directory and ports
// (stopping it first if it runs): clients that kept the endpoint reconnect.
func (s *Server) Restart() error {
	s.Stop()
	return s.start()
}

// Running reports whether the server runs (between Start or Restart and
// Stop).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.etcd != nil
}

// ClientConfig is a client configuration for the endpoint: TLS as the
// server's options say, and, once EnableAuth has run, root's credentials.
func (s *Server) ClientConfig() (clientv3.Config, error) {
	cfg := clientv3.Config{
		Endpoints:   []string{s.Endpoint()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	}
	if s.opts.TLS != nil {
		tc, err := s.opts.TLS.ClientConfig()
		if err != nil {
			return cfg, err
		}
		cfg.TLS = tc
	}
	s.mu.Lock()
	if s.rootPassword != "" {
		cfg.Username, cfg.Password = "root", s.rootPassword
	}
	s.mu.Unlock()
	return cfg, nil
}

// NewClient makes a client from ClientConfig with the given credentials
// (none when user is empty: root's once auth is on). Stop closes it.
func (s *Server) NewClient(user, password string) (*clientv3.Client, error) {
	cfg, err := s.ClientConfig()
	if err != nil {
		return nil, err
	}
	if user != "" {
		cfg.Username, cfg.Password = user, password
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.clients = append(s.clients, c)
	s.mu.Unlock()
	return c, nil
}

// Client is a client for inspecting the server (root's once auth is on),
// made on first use and shared; Stop closes it.
func (s *Server) Client() (*clientv3.Client, error) {
	s.mu.Lock()
	c := s.shared
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := s.NewClient("", "")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared == nil {
		s.shared = c
	}
	return s.shared, nil
}

// EnableAuth turns authentication on, as an operator would for the fleet:
// a root user (whose password the server keeps for its own clients), a
// role named user granted readwrite on the keys under prefix only, and
// user with that role. Clients made before stop working (etcd refuses
// requests without credentials); Client makes a new one, as root.
func (s *Server) EnableAuth(prefix, user, password string) error {
	if prefix == "" || user == "" || user == "root" {
		return errors.New("EnableAuth needs a prefix and a user other than root")
	}
	c, err := s.Client()
	if err != nil {
		return err
	}
	buf := make([]byte, 16)
	rand.Read(buf)
	rootPassword := hex.EncodeToString(buf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	steps := []struct {
		what string
		do   func() error
	}{
		{"adding user root", func() error { _, err := c.UserAdd(ctx, "root", rootPassword); return err }},
		{"granting root the root role", func() error { _, err := c.UserGrantRole(ctx, "root", "root"); return err }},
		{"adding role " + user, func() error { _, err := c.RoleAdd(ctx, user); return err }},
		{"granting role " + user + " readwrite on " + prefix, func() error {
			_, err := c.RoleGrantPermission(ctx, user, prefix, clientv3.GetPrefixRangeEnd(prefix),
				clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		}},
		{"adding user " + user, func() error { _, err := c.UserAdd(ctx, user, password); return err }},
		{"granting user " + user + " its role", func() error { _, err := c.UserGrantRole(ctx, user, user); return err }},
		{"enabling auth", func() error { _, err := c.AuthEnable(ctx); return err }},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			return fmt.Errorf("%s: %w", step.what, err)
		}
	}
	s.mu.Lock()
	s.rootPassword = rootPassword
	if s.shared == c {
		s.shared = nil
	}
	s.mu.Unlock()
	return nil
}

// stoppingCore drops what etcd logs below fatal once its server stops.
type stoppingCore struct {
	zapcore.Core
	stopping *atomic.Bool
}

func (c *stoppingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.stopping.Load() && e.Level < zapcore.DPanicLevel {
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c *stoppingCore) With(fields []zapcore.Field) zapcore.Core {
	return &stoppingCore{c.Core.With(fields), c.stopping}
}
