package failover

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/failover-dns/failover/health"

	"github.com/miekg/dns"
)

func init() { plugin.Register(pluginName, setup) }

// Defaults and bounds of the pool properties; README.md documents them.
const (
	defaultInterval = 5 * time.Second
	defaultTimeout  = 2 * time.Second
	defaultRise     = 2
	defaultFall     = 3
	defaultTTL      = 30
	defaultFast     = time.Second
	defaultPriority = 1
	defaultWeight   = 1

	minInterval = 100 * time.Millisecond
	minTimeout  = 10 * time.Millisecond
	maxStreak   = 100   // rise and fall
	maxTTL      = 86400 // one day
	maxPriority = 65535
	maxWeight   = 65535
)

const poolProperties = "target, check, require, interval, fast_interval, timeout, rise, fall, watch, ttl, degraded_ttl, " +
	"policy, max_answers, min_healthy, all_down, startup, failback, adaptive_ttl or region"

func setup(c *caddy.Controller) error {
	f, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	// Probing starts in OnStartup, never here: a reload that fails after
	// setup never calls OnShutdown, and its goroutines would leak.
	f.gen = generationOf(c)
	f.gen.handlers = append(f.gen.handlers, f)
	c.OnStartup(f.OnStartup)
	c.OnShutdown(f.OnShutdown)
	// Registered on the instance that keeps running when a reload fails:
	// the failed instance's handlers may have started probing.
	c.OnRestartFailed(sweep)
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		f.Next = next
		return f
	})
	return nil
}

// errAt is c.Err for a line other than the current token's.
func errAt(c *caddy.Controller, line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d - Error during parsing: %s", c.File(), line, fmt.Sprintf(format, args...))
}

func parse(c *caddy.Controller) (*Failover, error) {
	f := &Failover{
		names:    map[string]poolName{},
		existing: map[string]string{},
		negTTL:   maxTTL,
		serial:   uint32(time.Now().Unix()),
	}
	poolLines := map[string]int{} // pool name -> line of its pool
	var configs []*poolConfig
	blocks := 0
	for c.Next() {
		if blocks > 0 {
			return nil, c.Err("failover is used more than once in this server block: put every pool into one 'failover {' block")
		}
		blocks++
		line := c.Line()
		zones, err := parseZones(c)
		if err != nil {
			return nil, err
		}
		f.zones = zones
		for c.NextBlock() {
			switch c.Val() {
			case "pool":
				p, err := parsePool(c, f.zones, poolLines)
				if err != nil {
					return nil, err
				}
				configs = append(configs, p)
			case "overrides":
				if err := parseOverridesProperty(c, f); err != nil {
					return nil, err
				}
			default:
				return nil, c.Errf("unknown property '%s': inside 'failover {' write 'pool NAME... {' blocks or 'overrides FILE'", c.Val())
			}
		}
		if len(configs) == 0 {
			return nil, errAt(c, line, "failover has no pool: add 'pool NAME {' with a 'target' and a 'check' inside its block")
		}
	}
	f.block = strings.Join(c.ServerBlockKeys, " ")
	var overrides *atomic.Pointer[overrideSet]
	if f.overrides != nil {
		overrides = &f.overrides.current
	}
	for _, cfg := range configs {
		cfg.finish()
		p := newPool(cfg, overrides, realClock{})
		f.pools = append(f.pools, p)
		for i, name := range cfg.names {
			f.names[name] = poolName{pool: p, zone: cfg.zones[i]}
		}
	}
	for name, entry := range f.names {
		f.markExisting(name, entry.zone)
		f.negTTL = min(f.negTTL, entry.pool.ttl)
	}
	return f, nil
}

func parseZones(c *caddy.Controller) ([]string, error) {
	args := c.RemainingArgs()
	for _, a := range args {
		if len(plugin.Host(a).NormalizeExact()) == 0 {
			return nil, c.Errf("zone '%s' is not a domain name: write zones like example.org", a)
		}
	}
	return plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys), nil
}

// markExisting records the zone apex and the empty non-terminals between it
// and name, so that their NXDOMAINs can be turned into NODATA.
func (f *Failover) markExisting(name, zone string) {
	for n := name; ; {
		if _, isPool := f.names[n]; !isPool {
			f.existing[n] = zone
		}
		if n == zone {
			return
		}
		off, end := dns.NextLabel(n, 0)
		if end {
			return
		}
		n = n[off:]
	}
}

func parsePool(c *caddy.Controller, zones []string, poolLines map[string]int) (*poolConfig, error) {
	line := c.Line()
	args := c.RemainingArgs()
	if len(args) == 0 {
		return nil, c.Err("pool has no name: write 'pool www.example.org {'")
	}
	p := &poolConfig{interval: defaultInterval, rise: defaultRise, fall: defaultFall, ttl: defaultTTL, watch: true}
	for _, a := range args {
		name, zone, err := poolNameIn(a, zones)
		if err != nil {
			return nil, c.Err(err.Error())
		}
		if prev, dup := poolLines[name]; dup {
			return nil, c.Errf("pool name '%s' is already used by the pool at line %d: each name belongs to one pool", name, prev)
		}
		poolLines[name] = line
		p.names = append(p.names, name)
		p.zones = append(p.zones, zone)
	}
	if !c.NextArg() || c.Val() != "{" {
		return nil, c.Errf("pool %s needs a block: write 'pool %s {', then its targets and check, and '}' on its own line", args[0], strings.Join(args, " "))
	}

	var (
		timeout, fast                      time.Duration
		timeoutLine, fastLine, requireLine int
		requireArg                         string
		checks                             []health.CheckConfig
		checkLines                         []int
	)
	addrs := map[netip.Addr]bool{}
	seen := map[string]int{} // single-valued properties -> line
	for {
		if !c.Next() {
			return nil, c.EOFErr()
		}
		prop := c.Val()
		if prop == "}" {
			break
		}
		var err error
		switch prop {
		case "target", "check", "region":
		default:
			if first, dup := seen[prop]; dup {
				return nil, c.Errf("'%s' is given twice in this pool (first at line %d): keep one", prop, first)
			}
			seen[prop] = c.Line()
		}
		switch prop {
		case "target":
			var t target
			if t, err = parseTarget(c); err == nil {
				if addrs[t.addr] {
					return nil, c.Errf("target %s is listed twice in this pool: remove one", t.label)
				}
				addrs[t.addr] = true
				p.targets = append(p.targets, t)
			}
		case "check":
			checkLines = append(checkLines, c.Line())
			var check health.CheckConfig
			check, err = parseCheck(c)
			checks = append(checks, check)
		case "require":
			requireLine = c.Line()
			args := c.RemainingArgs()
			if len(args) != 1 {
				return nil, c.Err("require takes one argument: write 'require all', 'require any' or 'require N'")
			}
			requireArg = args[0]
		case "interval":
			p.interval, err = durationArg(c, minInterval)
		case "fast_interval":
			fastLine = c.Line()
			fast, err = durationArg(c, minInterval)
		case "timeout":
			timeoutLine = c.Line()
			timeout, err = durationArg(c, minTimeout)
		case "rise":
			p.rise, err = intArg(c, 1, maxStreak)
		case "fall":
			p.fall, err = intArg(c, 1, maxStreak)
		case "watch":
			args := c.RemainingArgs()
			if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
				return nil, c.Err("watch takes on or off: write 'watch off' to keep no idle connection to the targets")
			}
			p.watch = args[0] == "on"
		case "ttl":
			var ttl int
			ttl, err = intArg(c, 0, maxTTL)
			p.ttl = uint32(ttl)
		case "degraded_ttl":
			var ttl int
			ttl, err = intArg(c, 1, maxTTL)
			p.degradedTTL = uint32(ttl)
		case "policy":
			args := c.RemainingArgs()
			pol, ok := policyNames[strings.Join(args, " ")]
			if len(args) != 1 || !ok {
				return nil, c.Err("policy takes one of priority, first, weighted, round_robin, random or hash: write e.g. 'policy weighted'")
			}
			p.policy = pol
		case "max_answers":
			p.maxAnswers, err = intArg(c, 1, maxPick)
		case "min_healthy":
			err = parseMinHealthy(c, p)
		case "all_down":
			err = parseAllDown(c, p)
		case "region":
			var reg *region
			if reg, err = parseRegion(c.RemainingArgs()); err != nil {
				return nil, c.Err(err.Error())
			}
			for _, r := range p.regions {
				if r.name == reg.name {
					return nil, c.Errf("region %s is declared twice in this pool: put all its matches on one line", reg.name)
				}
			}
			p.regions = append(p.regions, reg)
			p.geoRegions = p.geoRegions || len(reg.countries)+len(reg.continents) > 0
		case "adaptive_ttl":
			args := c.RemainingArgs()
			lo, err1 := strconv.Atoi(strings.Join(args[:min(1, len(args))], ""))
			hi, err2 := strconv.Atoi(strings.Join(args[min(1, len(args)):], ""))
			if len(args) != 2 || err1 != nil || err2 != nil || lo < 0 || hi < 1 || lo > hi || hi > maxTTL {
				return nil, c.Errf("adaptive_ttl takes a minimum and a maximum in seconds, 0 <= MIN <= MAX <= %d: write e.g. 'adaptive_ttl 1 30'", maxTTL)
			}
			p.adaptiveMin, p.adaptiveMax = uint32(lo), uint32(hi)
		case "failback":
			args := c.RemainingArgs()
			if len(args) == 1 && args[0] == "manual" {
				p.manual = true
				break
			}
			var d time.Duration
			if len(args) == 1 {
				d, err = time.ParseDuration(args[0])
			}
			if len(args) != 1 || err != nil || d < 0 {
				return nil, c.Err("failback takes a duration or manual: write e.g. 'failback 5m' or 'failback manual'")
			}
			p.failback = d
		case "startup":
			args := c.RemainingArgs()
			if len(args) != 1 || (args[0] != "up" && args[0] != "down") {
				return nil, c.Err("startup takes up or down: how targets count until their first probe round, e.g. 'startup down'")
			}
			p.startDown = args[0] == "down"
		default:
			return nil, c.Errf("unknown property '%s' in pool: write one of %s", prop, poolProperties)
		}
		if err != nil {
			return nil, err
		}
	}

	if len(p.targets) == 0 {
		return nil, errAt(c, line, "pool %s has no target: add 'target ADDRESS' lines, e.g. 'target 192.0.2.10'", p.names[0])
	}
	for i, t := range p.targets {
		if t.regionName == "" {
			continue
		}
		p.targets[i].region = slices.IndexFunc(p.regions, func(r *region) bool { return r.name == t.regionName })
		if p.targets[i].region < 0 {
			return nil, errAt(c, line, "target %s is in region '%s', which pool %s does not declare: add 'region %s NETWORK...'",
				t.label, t.regionName, p.names[0], t.regionName)
		}
	}
	if len(checks) == 0 {
		return nil, errAt(c, line, "pool %s has no check: add a line like 'check http://%s/health' or 'check tcp://%s:443'",
			p.names[0], strings.TrimSuffix(p.names[0], "."), strings.TrimSuffix(p.names[0], "."))
	}
	if timeoutLine == 0 {
		timeout = min(defaultTimeout, p.interval/2)
	} else if timeout >= p.interval {
		return nil, errAt(c, timeoutLine, "timeout %s must be shorter than interval %s: lower the timeout or raise the interval", timeout, p.interval)
	}
	p.timeout = timeout
	if fastLine == 0 {
		fast = min(defaultFast, p.interval)
	} else if fast > p.interval {
		return nil, errAt(c, fastLine, "fast_interval %s must not be longer than interval %s: it speeds up confirmation", fast, p.interval)
	}
	p.fast = fast
	switch requireArg {
	case "", "all":
	case "any":
		p.require = 1
	default:
		n, err := strconv.Atoi(requireArg)
		if err != nil || n < 1 || n > len(checks) {
			return nil, errAt(c, requireLine, "require '%s' is not all, any or a number from 1 to %d (the pool's checks)", requireArg, len(checks))
		}
		p.require = n
	}
	root := dnsserver.GetConfig(c).Root
	for i, cfg := range checks {
		cfg.Timeout, cfg.Root = timeout, root
		check, err := health.NewCheck(cfg)
		if err != nil {
			at := checkLines[i]
			if l := health.ErrorLine(err); l != 0 {
				at = l
			}
			return nil, errAt(c, at, "%v", err)
		}
		p.checks = append(p.checks, check)
	}
	return p, nil
}

// poolNameIn normalizes a pool name and finds the zone it belongs to.
func poolNameIn(arg string, zones []string) (name, zone string, err error) {
	if strings.Contains(arg, "*") {
		return "", "", fmt.Errorf("pool name '%s' is a wildcard: wildcard names are not supported, list each name", arg)
	}
	if _, ok := dns.IsDomainName(arg); !ok {
		return "", "", fmt.Errorf("pool name '%s' is not a domain name: write a name like www.example.org", arg)
	}
	name = plugin.Name(arg).Normalize()
	zone = plugin.Zones(zones).Matches(name)
	if zone == "" {
		return "", "", fmt.Errorf("pool name '%s' is not inside the zones of this block (%s): write a name under one of them, or add its zone to the 'failover' line",
			name, strings.Join(zones, " "))
	}
	return name, zone, nil
}

func parseTarget(c *caddy.Controller) (target, error) {
	const usage = "write 'target ADDRESS [priority N] [weight N] [probe ADDRESS[:PORT]] [region NAME]'"
	args := c.RemainingArgs()
	if len(args) == 0 || len(args)%2 == 0 {
		return target{}, c.Errf("target takes an address and optional 'priority N' and 'weight N': %s", usage)
	}
	addr, err := netip.ParseAddr(args[0])
	switch {
	case err != nil:
		return target{}, c.Errf("target '%s' is not an IP address: write an IPv4 or IPv6 address, e.g. 192.0.2.10 or 2001:db8::10", args[0])
	case addr.Zone() != "":
		return target{}, c.Errf("target '%s' has a zone index: DNS answers cannot carry one, write a global or loopback address", args[0])
	case addr.Is4In6():
		return target{}, c.Errf("target '%s' is an IPv4-mapped IPv6 address: write it as %s", args[0], addr.Unmap())
	case addr.IsUnspecified(), addr.IsMulticast():
		return target{}, c.Errf("target '%s' cannot be a server address: write the address clients should connect to", args[0])
	}
	t := target{addr: addr, ip: net.IP(addr.AsSlice()), label: addr.String(), priority: defaultPriority, weight: defaultWeight, probeAddr: addr, region: -1}
	seenOpt := map[string]bool{}
	for i := 1; i < len(args); i += 2 {
		if seenOpt[args[i]] {
			return target{}, c.Errf("target option '%s' is given twice: keep one", args[i])
		}
		seenOpt[args[i]] = true
		var dst *int
		limit := 0
		switch args[i] {
		case "probe":
			if err := parseProbeAddr(&t, args[i+1]); err != nil {
				return target{}, c.Err(err.Error())
			}
			continue
		case "region":
			t.regionName = args[i+1]
			continue
		case "priority":
			dst, limit = &t.priority, maxPriority
		case "weight":
			dst, limit = &t.weight, maxWeight
		default:
			return target{}, c.Errf("unknown target option '%s': %s", args[i], usage)
		}
		n, err := strconv.Atoi(args[i+1])
		if err != nil || n < 0 || n > limit {
			return target{}, c.Errf("target %s '%s' is not a whole number from 0 to %d", args[i], args[i+1], limit)
		}
		*dst = n
	}
	return t, nil
}

// parseOverridesProperty reads 'overrides FILE [INTERVAL]' and the file.
func parseOverridesProperty(c *caddy.Controller, f *Failover) error {
	args := c.RemainingArgs()
	if len(args) < 1 || len(args) > 2 || f.overrides != nil {
		return c.Err("write one 'overrides FILE [INTERVAL]' line: the file of 'POOL TARGET up|down|drain [reason]' lines, checked every INTERVAL (default 1s)")
	}
	o := &overridesFile{file: args[0], interval: time.Second}
	if root := dnsserver.GetConfig(c).Root; !filepath.IsAbs(o.file) && root != "" {
		o.file = filepath.Join(root, o.file)
	}
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		if err != nil || d < minInterval {
			return c.Errf("overrides interval '%s' is not a duration of at least %s", args[1], minInterval)
		}
		o.interval = d
	}
	data, err := readOverrides(o.file)
	if err != nil {
		return c.Errf("overrides file: %v", err)
	}
	set, err := parseOverrides(o.file, data)
	if err != nil {
		return c.Errf("overrides file is malformed: %v", err)
	}
	o.current.Store(set)
	f.overrides = o
	return nil
}

// parseMinHealthy reads 'min_healthy N' or 'min_healthy N%'.
func parseMinHealthy(c *caddy.Controller, p *poolConfig) error {
	args := c.RemainingArgs()
	const usage = "min_healthy takes a count or a percentage of a tier's targets: write e.g. 'min_healthy 2' or 'min_healthy 50%'"
	if len(args) != 1 {
		return c.Err(usage)
	}
	if pct, isPct := strings.CutSuffix(args[0], "%"); isPct {
		n, err := strconv.Atoi(pct)
		if err != nil || n < 1 || n > 100 {
			return c.Errf("min_healthy '%s' is not a percentage from 1%% to 100%%", args[0])
		}
		p.minPercent = n
		return nil
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 1000 {
		return c.Errf("%s (got '%s')", usage, args[0])
	}
	p.minHealthy = n
	return nil
}

// parseAllDown reads 'all_down best_tier|all|servfail|nodata|fallback ADDRESS...'.
func parseAllDown(c *caddy.Controller, p *poolConfig) error {
	const usage = "all_down takes best_tier, all, servfail, nodata or 'fallback ADDRESS...'"
	args := c.RemainingArgs()
	if len(args) == 0 {
		return c.Err(usage)
	}
	mode := slices.Index(allDownNames, args[0])
	if mode < 0 {
		return c.Errf("%s, not '%s'", usage, args[0])
	}
	p.allDown = allDownPolicy(mode)
	if p.allDown != allDownFallback {
		if len(args) > 1 {
			return c.Errf("all_down %s takes no addresses: only 'all_down fallback ADDRESS...' does", args[0])
		}
		return nil
	}
	if len(args) == 1 {
		return c.Err("all_down fallback needs addresses: write e.g. 'all_down fallback 192.0.2.99 2001:db8::99'")
	}
	for _, a := range args[1:] {
		addr, err := netip.ParseAddr(a)
		if err != nil || addr.Zone() != "" || addr.Is4In6() {
			return c.Errf("all_down fallback address '%s' is not an IPv4 or IPv6 address", a)
		}
		t := target{addr: addr}
		p.fallback[t.family()] = append(p.fallback[t.family()], net.IP(addr.AsSlice()))
	}
	return nil
}

// parseProbeAddr reads the address (and optional port) that a target's
// checks connect to instead of the address it answers with.
func parseProbeAddr(t *target, arg string) error {
	if ap, err := netip.ParseAddrPort(arg); err == nil && ap.Port() != 0 && ap.Addr().Zone() == "" {
		t.probeAddr, t.probePort = ap.Addr().Unmap(), ap.Port()
		return nil
	}
	if a, err := netip.ParseAddr(arg); err == nil && a.Zone() == "" {
		t.probeAddr = a.Unmap()
		return nil
	}
	return fmt.Errorf("probe '%s' is not an address: write 'probe 10.0.0.10', 'probe 10.0.0.10:8081' or 'probe [2001:db8::10]:8081'", arg)
}

// parseCheck reads 'check URL' with an optional block of option lines,
// which health.NewCheck interprets for the URL's scheme.
func parseCheck(c *caddy.Controller) (health.CheckConfig, error) {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return health.CheckConfig{}, c.Errf("check takes one URL: write 'check URL' with URL one of %s", health.Schemes)
	}
	check := health.CheckConfig{URL: args[0]}
	if !c.NextArg() { // no '{' on this line
		return check, nil
	}
	for {
		if !c.Next() {
			return check, c.EOFErr()
		}
		if c.Val() == "}" {
			return check, nil
		}
		opt := health.Option{Name: c.Val(), Line: c.Line()}
		opt.Args = c.RemainingArgs()
		check.Options = append(check.Options, opt)
	}
}

func durationArg(c *caddy.Controller, floor time.Duration) (time.Duration, error) {
	prop := c.Val()
	args := c.RemainingArgs()
	if len(args) != 1 {
		return 0, c.Errf("%s takes one duration: write e.g. '%s 5s'", prop, prop)
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return 0, c.Errf("%s '%s' is not a duration: write a number with a unit, e.g. 5s or 500ms", prop, args[0])
	}
	if d < floor {
		return 0, c.Errf("%s %s is too short: write at least %s", prop, args[0], floor)
	}
	return d, nil
}

func intArg(c *caddy.Controller, lo, hi int) (int, error) {
	prop := c.Val()
	args := c.RemainingArgs()
	if len(args) != 1 {
		return 0, c.Errf("%s takes one number: write e.g. '%s %d'", prop, prop, max(lo, 2))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < lo || n > hi {
		return 0, c.Errf("%s '%s' is not a whole number from %d to %d", prop, args[0], lo, hi)
	}
	return n, nil
}
