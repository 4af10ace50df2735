package failover

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/internal/smallfile"
)

// fleetProperties are the properties of a fleet block.
var fleetProperties = []string{"prefix", "member", "probers", "quorum", "lease", "credentials", "tls", "secret"}

// fleetStores are the stores a fleet can share its probing through.
var fleetStores = []string{"etcd"}

const (
	// defaultFleetEndpoint is the endpoint when the fleet line names none,
	// as for CoreDNS's etcd plugin.
	defaultFleetEndpoint = "http://localhost:2379"
	maxFleetProbers      = 16
	maxMemberName        = fleet.MaxMemberName
	// minSecret is the fewest bytes a fleet secret has: 16 random
	// characters are beyond any guessing; fewer are a password.
	minSecret = 16
	// maxSecretFile caps a secret file: a secret is a line, not a document.
	maxSecretFile = 4096

	fleetUsage = "write 'fleet etcd ENDPOINT...' with each ENDPOINT an http:// or https:// URL of an etcd member, e.g. 'fleet etcd https://192.0.2.10:2379'"
)

// hostname is the default member name; tests replace it.
var hostname = os.Hostname

// fleetParse is a fleet directive being read: its configuration so far,
// and the lines that the checks after its block report at.
type fleetParse struct {
	cfg   *fleet.Config
	line  int            // the fleet line
	lines map[string]int // property -> its line
}

// parseFleetProperty reads 'fleet etcd [ENDPOINT...] [{ prefix KEY; member NAME;
// probers K; quorum N|majority; lease DURATION; credentials USERNAME PASSWORD;
// tls CERT KEY CACERT; secret SECRET|file FILE }]'. Errors never show the
// password or the secret.
func parseFleetProperty(c *caddy.Controller, f *Failover) error {
	if f.fleet != nil {
		return c.Err("fleet is given twice in this failover block: keep one, with every etcd endpoint on its line")
	}
	fp := &fleetParse{line: c.Line(), lines: map[string]int{}, cfg: &fleet.Config{
		Prefix: fleet.DefaultPrefix, Probers: fleet.DefaultProbers, Quorum: fleet.Majority, Lease: fleet.DefaultLease,
	}}
	if err := fp.stanza(c); err != nil {
		return err
	}
	root := dnsserver.GetConfig(c).Root
	if err := optionBlock(c, func() error { return fp.property(c, root) }); err != nil {
		return err
	}
	if err := fp.validate(c); err != nil {
		return err
	}
	f.fleet = fp.cfg
	return nil
}

// stanza reads the store and the endpoints of the fleet line.
func (fp *fleetParse) stanza(c *caddy.Controller) error {
	args := c.RemainingArgs()
	if len(args) > 0 && args[len(args)-1] == "{}" { // one token to the lexer: an empty block
		args = args[:len(args)-1]
	}
	if len(args) == 0 {
		return c.Errf("fleet names no store: %s", fleetUsage)
	}
	if store := args[0]; store != "etcd" {
		if strings.Contains(store, "://") {
			return c.Errf("fleet names no store before the endpoint '%s': write 'fleet etcd %s'", showEndpoint(store), showEndpoint(store))
		}
		return c.Errf("fleet store '%s' is not supported%s: etcd is the only one; %s", store, didYouMean(store, fleetStores), fleetUsage)
	}
	endpoints := args[1:]
	if len(endpoints) == 0 {
		endpoints = []string{defaultFleetEndpoint}
	}
	for i, e := range endpoints {
		if problem := endpointProblem(e); problem != "" {
			return c.Errf("fleet endpoint '%s' %s: %s", showEndpoint(e), problem, fleetUsage)
		}
		if slices.Contains(endpoints[:i], e) {
			return c.Errf("fleet endpoint '%s' is listed twice: remove one", showEndpoint(e))
		}
		if first := endpoints[0]; scheme(e) != scheme(first) {
			return c.Errf("fleet endpoints mix http and https ('%s' and '%s'): write them all as https:// URLs (or all as http://)", showEndpoint(first), showEndpoint(e))
		}
	}
	fp.cfg.Endpoints = endpoints
	return nil
}

// property reads one line of a fleet block: one short case per property.
// The rules between properties wait for validate.
func (fp *fleetParse) property(c *caddy.Controller, root string) error {
	cfg, prop := fp.cfg, c.Val()
	if first, dup := fp.lines[prop]; dup {
		return c.Errf("'%s' is given twice in this fleet block (first at line %d): keep one", prop, first)
	}
	fp.lines[prop] = c.Line()
	var err error
	switch prop {
	case "prefix":
		cfg.Prefix, err = prefixArg(c)
	case "member":
		cfg.Member, err = memberArg(c)
	case "probers":
		cfg.Probers, err = intArg(c, 1, maxFleetProbers)
	case "quorum":
		cfg.Quorum, err = quorumArg(c)
	case "lease":
		cfg.Lease, err = leaseArg(c)
	case "credentials":
		cfg.Username, cfg.Password, err = credentialsArg(c)
	case "tls":
		err = fp.tls(c, root)
	case "secret":
		cfg.Secret, err = secretArg(c, root)
	default:
		err = c.Errf("unknown fleet property '%s'%s: write 'prefix KEY', 'member NAME', 'probers K', 'quorum N|majority', 'lease DURATION', 'credentials USERNAME PASSWORD', 'tls CERT KEY CACERT' or 'secret SECRET'",
			prop, didYouMean(prop, fleetProperties))
	}
	return err
}

// validate applies the rules between properties once the block is read,
// each at the line it concerns, and fills the defaults that need them.
func (fp *fleetParse) validate(c *caddy.Controller) error {
	cfg := fp.cfg
	if line, ok := fp.lines["quorum"]; ok && cfg.Quorum > cfg.Probers {
		return errAt(c, line, "quorum %d is more than the %d probers of each target: it could never be reached; write 'quorum majority', a number up to %d, or raise 'probers'",
			cfg.Quorum, cfg.Probers, cfg.Probers)
	}
	secure := scheme(cfg.Endpoints[0]) == "https"
	if secure && cfg.TLS == nil { // the system's roots verify etcd; no client certificate
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if line, ok := fp.lines["credentials"]; ok && !secure && slices.ContainsFunc(cfg.Endpoints, remoteEndpoint) {
		warnAt(c, line, "fleet credentials of user '%s' go to etcd unencrypted over http: write the endpoints as https:// URLs", cfg.Username)
	}
	if cfg.Member == "" {
		name, err := hostname()
		if err != nil {
			return errAt(c, fp.line, "fleet member defaults to the host name, which cannot be read (%v): set 'member NAME' in the fleet block", err)
		}
		if !validMember(name) {
			return errAt(c, fp.line, "fleet member defaults to the host name '%s', which is not usable in an etcd key: set 'member NAME' in the fleet block, with letters, digits, '.', '-' and '_', at most %d characters",
				name, maxMemberName)
		}
		cfg.Member = name
	}
	return nil
}

// warnUnkeyedFleet warns when a fleet without a secret shares a check that
// may carry a token: etcd then names the target by a plain digest of the
// check, against which whoever reads etcd can test guesses of the token.
func warnUnkeyedFleet(c *caddy.Controller, cfg *fleet.Config, line int, pools []*poolConfig) {
	if cfg == nil || cfg.Secret != "" {
		return
	}
	for _, p := range pools {
		for _, check := range p.checks {
			if check.MayHoldSecret() {
				warnAt(c, line, "fleet has no 'secret', and check '%s' of pool %s has a header, a text to send or a query: etcd names its targets by a plain digest of the check, against which whoever reads etcd can test guesses of a token; add 'secret {$FLEET_SECRET}' to the fleet block (the same on every replica)",
					check.Name(), p.names[0])
				return
			}
		}
	}
}

// endpointProblem says what is wrong with an etcd endpoint, or "".
func endpointProblem(e string) string {
	u, err := url.Parse(e)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return "is not a URL"
	}
	port, _ := strconv.Atoi(u.Port())
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "does not start with http:// or https://"
	case u.User != nil:
		return "holds credentials: put them in the block's 'credentials USERNAME PASSWORD' line"
	case u.Hostname() == "" || port < 1 || port > 65535:
		return "is not host:port after its scheme (etcd's client port is usually 2379)"
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "has a path, query or fragment: etcd takes scheme://host:port only"
	}
	return ""
}

// scheme is the scheme of a valid endpoint.
func scheme(e string) string { s, _, _ := strings.Cut(e, "://"); return s }

// remoteEndpoint reports whether a valid endpoint is beyond this host.
func remoteEndpoint(e string) bool {
	u, err := url.Parse(e)
	return err != nil || !loopbackHost(u.Hostname())
}

// showEndpoint is an endpoint for a message: a user name and password in it
// are replaced by xxxxx.
func showEndpoint(e string) string {
	at := strings.LastIndex(e, "@")
	if at < 0 {
		return e
	}
	start := 0
	if i := strings.Index(e, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return e[:start] + "xxxxx" + e[at:]
}

func prefixArg(c *caddy.Controller) (string, error) {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return "", c.Errf("prefix takes one etcd key: write e.g. 'prefix %s'", fleet.DefaultPrefix)
	}
	p := args[0]
	switch {
	case strings.ContainsFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", c.Errf("prefix %q holds a space or control character: write a key without, e.g. 'prefix %s'", p, fleet.DefaultPrefix)
	case !strings.HasPrefix(p, "/"):
		return "", c.Errf("prefix '%s' does not start with '/': write 'prefix /%s'", p, strings.TrimRight(p, "/"))
	case strings.HasSuffix(p, "/"):
		fixed := strings.TrimRight(p, "/")
		if fixed == "" {
			fixed = fleet.DefaultPrefix
		}
		return "", c.Errf("prefix '%s' ends with '/': write 'prefix %s' (keys go under PREFIX/%s/)", p, fixed, fleet.Layout)
	}
	return p, nil
}

func memberArg(c *caddy.Controller) (string, error) {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return "", c.Err("member takes one name, unique to this replica: write e.g. 'member dns-1'")
	}
	if !validMember(args[0]) {
		return "", c.Errf("member '%s' is not usable in an etcd key: write a name of letters, digits, '.', '-' and '_', at most %d characters, e.g. 'member dns-1'",
			args[0], maxMemberName)
	}
	return args[0], nil
}

// validMember reports whether name is a member name: 1 to maxMemberName
// ASCII letters, digits, '.', '-' and '_' (see fleet.ValidMember).
func validMember(name string) bool { return fleet.ValidMember(name) }

func quorumArg(c *caddy.Controller) (int, error) {
	const hint = "write 'quorum majority' (more than half of a target's probers) or a number of verdicts up to 'probers', e.g. 'quorum 2'"
	args := c.RemainingArgs()
	if len(args) != 1 {
		return 0, c.Errf("quorum takes a number or majority: %s", hint)
	}
	if args[0] == "majority" {
		return fleet.Majority, nil
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > maxFleetProbers {
		return 0, c.Errf("quorum '%s' is neither majority nor a whole number from 1 to %d%s: %s", args[0], maxFleetProbers, didYouMean(args[0], []string{"majority"}), hint)
	}
	return n, nil
}

// leaseArg reads the lease: etcd grants leases in whole seconds.
func leaseArg(c *caddy.Controller) (time.Duration, error) {
	d, err := durationArg(c, fleet.MinLease)
	if err == nil && d%time.Second != 0 {
		return 0, c.Errf("lease %s is not a whole number of seconds, which etcd's leases count in: write e.g. 'lease %s'", d, d.Round(time.Second))
	}
	return d, err
}

// credentialsArg reads 'credentials USERNAME PASSWORD'. The password is
// usually '{$VARIABLE}', which the Corefile's reader has replaced by the
// variable's value (empty when it is unset). It is never shown.
func credentialsArg(c *caddy.Controller) (string, string, error) {
	args := c.RemainingArgs()
	if len(args) != 2 {
		return "", "", c.Errf("credentials takes two words, a user name and a password (%d given): write 'credentials USERNAME PASSWORD', e.g. 'credentials fleet {$FLEET_PASSWORD}' to take the password from the environment", len(args))
	}
	if args[0] == "" {
		return "", "", c.Err("credentials has an empty user name: write one, and when it is a {$VARIABLE}, set that environment variable for CoreDNS")
	}
	if args[1] == "" {
		return "", "", c.Errf("credentials of user '%s' has an empty password: when it is a {$VARIABLE}, set that environment variable for CoreDNS", args[0])
	}
	return args[0], args[1], nil
}

// secretArg reads 'secret SECRET' or 'secret file FILE': the key that
// names targets in etcd (see fleet.Config.TargetID). SECRET is usually
// '{$VARIABLE}'; FILE, a mounted Kubernetes Secret, say, holds it on its
// first line. It is never shown.
func secretArg(c *caddy.Controller, root string) (string, error) {
	const hint = "write 'secret {$FLEET_SECRET}' with the variable set to at least 16 random characters (e.g. from 'openssl rand -hex 16'), or 'secret file FILE', the same on every replica"
	args := c.RemainingArgs()
	var secret string
	switch {
	case len(args) == 2 && args[0] == "file":
		data, err := smallfile.Read(rooted(root, args[1]), maxSecretFile)
		if err != nil {
			return "", c.Errf("fleet secret file: %v: %s", err, hint)
		}
		secret = strings.TrimRight(string(data), "\r\n")
		if strings.ContainsAny(secret, "\r\n") {
			return "", c.Errf("fleet secret file %s holds more than one line: put the secret alone on its first line", args[1])
		}
	case len(args) == 1:
		secret = args[0]
	default:
		return "", c.Errf("secret takes one word, or 'file' and a file name (%d words given): %s", len(args), hint)
	}
	switch {
	case secret == "":
		return "", c.Errf("fleet secret is empty (when it is a {$VARIABLE}, set that variable for CoreDNS): %s", hint)
	case len(secret) < minSecret:
		return "", c.Errf("fleet secret has %d characters, fewer than %d: %s", len(secret), minSecret, hint)
	}
	return secret, nil
}

// tls reads 'tls CERT KEY CACERT': the client certificate and key etcd
// authenticates this member by, and the CA that verifies etcd.
func (fp *fleetParse) tls(c *caddy.Controller, root string) error {
	if e := fp.cfg.Endpoints[0]; scheme(e) != "https" {
		return c.Errf("fleet tls is for https endpoints, and '%s' is http: write the endpoints on the fleet line as https:// URLs, e.g. 'fleet etcd https://192.0.2.10:2379 {'",
			showEndpoint(e))
	}
	cfg, files, err := loadFleetTLS(c, root)
	fp.cfg.TLS, fp.cfg.TLSFiles = cfg, files
	return err
}

// loadFleetTLS reads the files of 'tls CERT KEY CACERT' into a client
// configuration that verifies etcd, and returns it with the files' names.
func loadFleetTLS(c *caddy.Controller, root string) (*tls.Config, string, error) {
	args := c.RemainingArgs()
	if len(args) != 3 {
		return nil, "", c.Err("tls takes a client certificate, its key and the CA that verifies etcd: write 'tls CERT KEY CACERT' (PEM files)")
	}
	files := []string{rooted(root, args[0]), rooted(root, args[1]), rooted(root, args[2])}
	cert, err := tls.LoadX509KeyPair(files[0], files[1])
	if err != nil {
		return nil, "", c.Errf("fleet tls: %v", err)
	}
	pem, err := os.ReadFile(files[2])
	if err != nil {
		return nil, "", c.Errf("fleet tls CA: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, "", c.Errf("fleet tls CA file '%s' holds no PEM certificate: give a file with one or more '-----BEGIN CERTIFICATE-----' blocks", args[2])
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}
	// The names and what they hold: a certificate renewed under the same
	// names is a new configuration, which a reload takes up.
	sum := sha256.New()
	for _, der := range cert.Certificate {
		sum.Write(der)
	}
	sum.Write(pem)
	return cfg, fmt.Sprintf("%s %x", strings.Join(files, " "), sum.Sum(nil)), nil
}
