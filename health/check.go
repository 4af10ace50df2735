package health

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// CheckConfig is a check as the Corefile gives it: a URL whose scheme picks
// the probe, and the lines of its option block.
type CheckConfig struct {
	URL     string
	Options []Option
	// Root is the directory relative file names are resolved against.
	Root string
	// Timeout bounds every network operation of one probe.
	Timeout time.Duration
}

// checkForms shows how each supported check is written. It is the one list
// of schemes: Schemes quotes it, and schemeOptions builds a check from each
// form to learn the options it takes.
var checkForms = []string{"tcp://HOST:PORT", "tls://HOST:PORT", "http://HOST[:PORT]/PATH", "https://HOST[:PORT]/PATH",
	"dns://NAME[:PORT]", "grpc://HOST:PORT", "grpcs://HOST:PORT", "icmp://HOST"}

// Schemes lists the supported check URL forms, for error messages.
var Schemes = strings.Join(checkForms[:len(checkForms)-1], ", ") + " or " + checkForms[len(checkForms)-1]

// Check is a validated check, ready to probe any target address.
type Check struct {
	name       string // for Result.Check
	scheme     string
	prober     Prober
	port       uint16 // the URL's port (or the scheme's default); 0 for icmp
	maxLatency time.Duration
	timeout    time.Duration
	key        string
	users      int // monitors probing with this check; guarded by registry
	// mayHoldSecret: a header, a text sent or a query string, where
	// operators put tokens (see MayHoldSecret).
	mayHoldSecret bool
}

// MayHoldSecret reports whether the check carries something that is often
// a secret: a header, a text it sends, or a URL query. A spec's ID is a
// digest of it, so whoever reads the ID could test guesses of it.
func (c *Check) MayHoldSecret() bool { return c.mayHoldSecret }

// Name is the check as results and messages show it (see checkName).
func (c *Check) Name() string { return c.name }

// MaxLatency is the check's max_latency, 0 when it has none: a passed
// probe's RTT never exceeds it.
func (c *Check) MaxLatency() time.Duration { return c.maxLatency }

// Key identifies the check: two checks with the same key probe the same way.
func (c *Check) Key() string { return c.key }

// Probe runs the check against addr at port, or at the check's own port
// when port is 0. A success slower than max_latency counts as a failure.
func (c *Check) Probe(ctx context.Context, addr netip.Addr, port uint16) Result {
	if port == 0 {
		port = c.port
	}
	dst := netip.AddrPortFrom(addr, port)
	r := c.prober.Probe(ctx, dst)
	if r.OK && c.maxLatency > 0 {
		if latency, what := c.latency(r); latency > c.maxLatency {
			r = Result{Reason: ReasonSlow, Duration: r.Duration,
				Detail: fmt.Sprintf("slower than max_latency %s: %s%s", c.maxLatency, what, roundDuration(latency))}
		}
	}
	if r.Reason == ReasonTimeout {
		// The error alone ("i/o timeout") does not say how long was waited.
		r.Detail = strings.TrimSuffix(fmt.Sprintf("timed out after %s: %s", c.timeout, r.Detail), ": ")
	}
	r.Check, r.Addr, r.Detail = c.name, dst, capDetail(r.Detail)
	return r
}

// latency is what max_latency limits in a successful result, and how the
// detail names it: for icmp the echoes' mean round-trip time, as a round
// of several echoes also lasts the spacing between them; for the other
// checks the whole probe's duration.
func (c *Check) latency(r Result) (time.Duration, string) {
	if c.scheme == "icmp" {
		return r.RTT, "mean echo round trip "
	}
	return r.Duration, ""
}

// watchable reports whether the check talks TCP, so that an idle TCP
// connection to its port can tell when the service's process goes away.
func (c *Check) watchable() bool {
	switch c.scheme {
	case "tcp", "tls", "http", "https", "grpc", "grpcs":
		return true
	}
	return false
}

// close releases the check's idle connections. Only the monitors that probe
// with a check close it (on the last one's release): a pool that configured
// the check cannot know whether a shared monitor still probes with it.
func (c *Check) close() { c.prober.Close() }

var defaultPorts = map[string]uint16{"http": 80, "https": 443, "dns": 53}

// NewCheck validates a check and builds its prober. Errors say what to write
// instead; ErrorLine tells which option line they concern, if any.
func NewCheck(cfg CheckConfig) (*Check, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return nil, fmt.Errorf("check '%s' is not a URL: write %s", CheckName(cfg.URL), Schemes)
	}
	if u.User != nil {
		return nil, fmt.Errorf("check '%s' has credentials in the URL: they are not supported, remove them (a check header can carry a token)", checkName(u))
	}
	if err := asciiHost(u); err != nil {
		return nil, err
	}
	port, err := portOf(u)
	if err != nil {
		return nil, fmt.Errorf("check '%s': %v", checkName(u), err)
	}
	if port == 0 {
		port = defaultPorts[u.Scheme]
	}
	o := newOptions(cfg.Options)
	c, digest, err := build(u, port, o, cfg)
	if err != nil {
		return nil, err
	}
	if err := o.unused(u.Scheme); err != nil {
		return nil, err
	}
	var key strings.Builder
	fmt.Fprintf(&key, "%s|%s|%s", cfg.URL, cfg.Timeout, digest)
	for _, opt := range cfg.Options {
		fmt.Fprintf(&key, "|%s %q", opt.Name, opt.Args)
	}
	c.key = key.String()
	c.mayHoldSecret = u.RawQuery != "" || slices.ContainsFunc(cfg.Options, func(o Option) bool { return o.Name == "header" || o.Name == "send" })
	return c, nil
}

// build makes the check for u's scheme, reading the options it takes: the
// scheme's own, then those of every check. What it reads is what the error
// for an unknown option lists.
func build(u *url.URL, port uint16, o *options, cfg CheckConfig) (*Check, string, error) {
	c := &Check{name: checkName(u), scheme: u.Scheme, port: port, timeout: cfg.Timeout}
	needPort := func() error {
		if port == 0 {
			return fmt.Errorf("check '%s' has no port: write %s://%s:PORT", checkName(u), u.Scheme, hostOr(u, "HOST"))
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("check '%s': a %s check takes no path or query: write %s://HOST:PORT", checkName(u), u.Scheme, u.Scheme)
		}
		return nil
	}
	var (
		digest string
		err    error
	)
	switch u.Scheme {
	case "tcp":
		if err = needPort(); err == nil {
			c.prober, err = newTCPProber(o)
		}
	case "tls":
		if err = needPort(); err == nil {
			c.prober, digest, err = newTLSProber(u, o, cfg)
		}
	case "http", "https":
		if u.Hostname() == "" {
			return nil, "", fmt.Errorf("check '%s' has no host: write the name the service answers to, e.g. %s://www.example.org/health", checkName(u), u.Scheme)
		}
		c.prober, digest, err = newHTTPProber(u, o, cfg)
	case "dns":
		c.prober, err = newDNSProber(u, o, cfg.Timeout)
	case "grpc", "grpcs":
		if err = needPort(); err == nil {
			c.prober, digest, err = newGRPCProber(u, o, cfg)
		}
	case "icmp":
		if u.Port() != "" || (u.Path != "" && u.Path != "/") {
			return nil, "", fmt.Errorf("check '%s': an icmp check takes no port or path: write icmp://HOST", checkName(u))
		}
		c.prober, err = newICMPProber(o, cfg.Timeout)
	default:
		return nil, "", fmt.Errorf("check scheme '%s' is not supported: write %s", u.Scheme, Schemes)
	}
	if err != nil {
		return nil, "", err
	}
	if c.maxLatency, _, err = o.duration("max_latency"); err != nil {
		return nil, "", err
	}
	if c.maxLatency >= cfg.Timeout && c.maxLatency > 0 {
		return nil, "", o.errf(o.all("max_latency")[0], "max_latency %s must be shorter than the timeout %s: a slower probe already fails", c.maxLatency, cfg.Timeout)
	}
	return c, digest, nil
}

// schemeOptions lists, for each scheme in the order of checkForms, the
// options its checks take, found by building one check from each form
// without options and noting what build reads.
var schemeOptions = sync.OnceValue(func() []schemeOpts {
	var out []schemeOpts
	for _, form := range checkForms {
		u, err := url.Parse(sampleURL(form))
		if err != nil {
			panic(fmt.Sprintf("check form %s: %v", form, err))
		}
		o := newOptions(nil)
		if _, _, err := build(u, 1, o, CheckConfig{URL: u.String(), Timeout: time.Second}); err != nil {
			panic(fmt.Sprintf("check form %s: %v", form, err))
		}
		out = append(out, schemeOpts{u.Scheme, o.asked})
	}
	return out
})

// sampleURL fills in a check form: tcp://HOST:PORT becomes tcp://example.org:1.
func sampleURL(form string) string {
	return strings.NewReplacer("[:PORT]", "", ":PORT", ":1", "HOST", "example.org", "NAME", "example.org", "/PATH", "/").Replace(form)
}

type schemeOpts struct {
	scheme  string
	options []string
}

// schemesTaking lists the schemes whose checks take the option name.
func schemesTaking(name string) []string {
	var out []string
	for _, s := range schemeOptions() {
		if slices.Contains(s.options, name) {
			out = append(out, s.scheme)
		}
	}
	return out
}

func hostOr(u *url.URL, fallback string) string {
	if h := u.Hostname(); h != "" {
		return h
	}
	return fallback
}

func portOf(u *url.URL) (uint16, error) {
	p := u.Port()
	if p == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port '%s' is not a number from 1 to 65535", p)
	}
	return uint16(n), nil
}

// asciiHost writes a host name with non-ASCII letters in its punycode form,
// the form certificates, SNI and DNS use: probes would otherwise send and
// verify a name no server has.
func asciiHost(u *url.URL) error {
	host := u.Hostname()
	if isASCII(host) {
		return nil
	}
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return fmt.Errorf("check '%s': host '%s' is not a valid internationalized name (%v): write it in its punycode form", checkName(u), host, err)
	}
	if port := u.Port(); port != "" {
		ascii = net.JoinHostPort(ascii, port)
	}
	u.Host = ascii
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
