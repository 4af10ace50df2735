package failover

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/failover-dns/failover/health"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
)

// poolPropertyNames are the properties of a pool block, for error messages.
var poolPropertyNames = []string{"target", "check", "require", "interval", "fast_interval", "timeout", "rise", "fall",
	"watch", "ttl", "degraded_ttl", "policy", "max_answers", "fastest_margin", "slow_rtt", "min_healthy", "all_down", "startup",
	"failback", "adaptive_ttl", "region"}

// repeatable are the pool properties that may be given more than once.
var repeatable = map[string]bool{"target": true, "check": true, "region": true}

// poolParse is a pool being read: its configuration so far, and what the
// validation step needs to know about the lines it came from.
type poolParse struct {
	cfg    *poolConfig
	line   int                // the 'pool' line
	lines  map[string]int     // single-valued property -> its line
	addrs  map[netip.Addr]int // target address -> its line
	checks []poolCheck
}

// poolCheck is a 'check' line; it becomes a health.Check once the pool's
// timeout is known.
type poolCheck struct {
	cfg  health.CheckConfig
	line int
}

// parsePool reads 'pool NAME... {' and its block into a validated poolConfig.
func parsePool(c *caddy.Controller, zones []string, poolLines map[string]int) (*poolConfig, error) {
	pp, err := parsePoolNames(c, zones, poolLines)
	if err != nil {
		return nil, err
	}
	for c.Next() {
		if c.Val() == "}" {
			return pp.validate(c)
		}
		if err := pp.property(c); err != nil {
			return nil, err
		}
	}
	return nil, c.EOFErr()
}

// parsePoolNames reads the pool line up to and including its '{'.
func parsePoolNames(c *caddy.Controller, zones []string, poolLines map[string]int) (*poolParse, error) {
	line := c.Line()
	args := c.RemainingArgs()
	empty := len(args) > 0 && args[len(args)-1] == "{}" // one token to the lexer, not a name
	if empty {
		args = args[:len(args)-1]
	}
	if len(args) == 0 {
		return nil, c.Err("pool has no name: write 'pool www.example.org {'")
	}
	if empty {
		return nil, c.Errf("pool %s has an empty block '{}', so no target and no check: write 'pool %s {', then 'target ADDRESS' and 'check URL' lines, and '}' on its own line",
			args[0], strings.Join(args, " "))
	}
	p := &poolConfig{interval: defaultInterval, rise: defaultRise, fall: defaultFall, ttl: defaultTTL, watch: true, margin: defaultMargin}
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
	return &poolParse{cfg: p, line: line, lines: map[string]int{}, addrs: map[netip.Addr]int{}}, nil
}

// property reads one line of a pool block: one short case per property.
// The rules between properties wait for validate.
func (pp *poolParse) property(c *caddy.Controller) error {
	p, prop := pp.cfg, c.Val()
	if first, dup := pp.lines[prop]; dup {
		return c.Errf("'%s' is given twice in this pool (first at line %d): keep one", prop, first)
	}
	if !repeatable[prop] {
		pp.lines[prop] = c.Line()
	}
	var err error
	switch prop {
	case "target":
		err = pp.addTarget(c)
	case "check":
		err = pp.addCheck(c)
	case "region":
		err = pp.addRegion(c)
	case "require":
		p.require, err = parseRequire(c)
	case "interval":
		p.interval, err = durationArg(c, minInterval)
	case "fast_interval":
		p.fast, err = durationArg(c, minInterval)
	case "timeout":
		p.timeout, err = durationArg(c, minTimeout)
	case "rise":
		p.rise, err = intArg(c, 1, maxStreak)
	case "fall":
		p.fall, err = intArg(c, 1, maxStreak)
	case "watch":
		p.watch, err = flagArg(c, [2]string{"on", "off"}, "on", "write 'watch off' to keep no idle connection to the targets")
	case "ttl":
		p.ttl, err = ttlArg(c, 0)
	case "degraded_ttl":
		p.degradedTTL, err = ttlArg(c, 1)
	case "adaptive_ttl":
		p.adaptiveMin, p.adaptiveMax, err = parseAdaptiveTTL(c)
	case "policy":
		p.policy, err = parsePolicy(c)
	case "max_answers":
		p.maxAnswers, err = intArg(c, 1, maxPick)
	case "fastest_margin":
		p.margin, err = parseFastestMargin(c)
	case "slow_rtt":
		p.slowRTT, err = durationArg(c, time.Millisecond)
	case "min_healthy":
		p.minHealthy, p.minPercent, err = parseMinHealthy(c)
	case "all_down":
		p.allDown, p.fallback, err = parseAllDown(c)
	case "startup":
		p.startDown, err = flagArg(c, [2]string{"up", "down"}, "down", "how targets count until their first probe round, e.g. 'startup down'")
	case "failback":
		p.failback, p.manual, err = parseFailback(c)
	default:
		return c.Errf("unknown property '%s' in pool%s: write one of %s", prop, didYouMean(prop, poolPropertyNames), oneOf(poolPropertyNames))
	}
	return err
}

func (pp *poolParse) addTarget(c *caddy.Controller) error {
	t, err := parseTarget(c)
	if err != nil {
		return err
	}
	if first, dup := pp.addrs[t.addr]; dup {
		return c.Errf("target %s is listed twice in this pool (first at line %d): remove one", t.label, first)
	}
	pp.addrs[t.addr] = t.line
	pp.cfg.targets = append(pp.cfg.targets, t)
	return nil
}

func (pp *poolParse) addCheck(c *caddy.Controller) error {
	line := c.Line()
	cfg, err := parseCheck(c)
	if err != nil {
		return err
	}
	key := checkKey(cfg)
	for _, prev := range pp.checks {
		if checkKey(prev.cfg) == key {
			warnAt(c, line, "check %s is given twice with the same options in pool %s (first at line %d): remove one; each copy is probed, and counts toward 'require N'",
				health.CheckName(cfg.URL), pp.cfg.names[0], prev.line)
			break
		}
	}
	pp.checks = append(pp.checks, poolCheck{cfg: cfg, line: line})
	return nil
}

// checkKey identifies a check line by its URL and options, in any order.
func checkKey(cfg health.CheckConfig) string {
	opts := make([]string, len(cfg.Options))
	for i, o := range cfg.Options {
		opts[i] = strings.Join(append([]string{o.Name}, o.Args...), "\x00")
	}
	slices.Sort(opts)
	return cfg.URL + "\x01" + strings.Join(opts, "\x01")
}

func (pp *poolParse) addRegion(c *caddy.Controller) error {
	reg, err := parseRegion(c.RemainingArgs())
	if err != nil {
		return c.Err(err.Error())
	}
	p := pp.cfg
	if slices.ContainsFunc(p.regions, func(r *region) bool { return r.name == reg.name }) {
		return c.Errf("region %s is declared twice in this pool: put all its matches on one line", reg.name)
	}
	reg.line = c.Line()
	p.regions = append(p.regions, reg)
	p.geoRegions = p.geoRegions || reg.geoMatches()
	return nil
}

// validate applies the rules between properties once the block is read,
// reporting each at the line it concerns, and builds the checks.
func (pp *poolParse) validate(c *caddy.Controller) (*poolConfig, error) {
	p, name := pp.cfg, pp.cfg.names[0]
	if len(p.targets) == 0 {
		return nil, errAt(c, pp.line, "pool %s has no target: add 'target ADDRESS' lines, e.g. 'target 192.0.2.10'", name)
	}
	if err := pp.resolveRegions(c); err != nil {
		return nil, err
	}
	if len(pp.checks) == 0 {
		host := strings.TrimSuffix(name, ".")
		return nil, errAt(c, pp.line, "pool %s has no check: add a line like 'check http://%s/health' or 'check tcp://%s:443'", name, host, host)
	}
	if err := pp.timing(c); err != nil {
		return nil, err
	}
	if err := pp.steering(c); err != nil {
		return nil, err
	}
	if p.require > len(pp.checks) {
		return nil, errAt(c, pp.lines["require"], "require '%d' is not all, any or a number from 1 to %d (the pool's checks)", p.require, len(pp.checks))
	}
	if err := pp.buildChecks(c); err != nil {
		return nil, err
	}
	if err := pp.slowReachable(c); err != nil {
		return nil, err
	}
	return p, nil
}

// resolveRegions points each target at the region it names.
func (pp *poolParse) resolveRegions(c *caddy.Controller) error {
	p := pp.cfg
	for i, t := range p.targets {
		if t.regionName == "" {
			continue
		}
		p.targets[i].region = slices.IndexFunc(p.regions, func(r *region) bool { return r.name == t.regionName })
		if p.targets[i].region < 0 {
			declared := make([]string, len(p.regions))
			for j, r := range p.regions {
				declared[j] = r.name
			}
			return errAt(c, t.line, "target %s is in region '%s', which pool %s does not declare%s: add 'region %s NETWORK...'",
				t.label, t.regionName, p.names[0], didYouMean(t.regionName, declared), t.regionName)
		}
	}
	return nil
}

// timing fills in the default timeout and fast_interval, which follow the
// interval, and checks those given against it.
func (pp *poolParse) timing(c *caddy.Controller) error {
	p := pp.cfg
	if line, set := pp.lines["timeout"]; !set {
		p.timeout = min(defaultTimeout, p.interval/2)
	} else if p.timeout >= p.interval {
		return errAt(c, line, "timeout %s must be shorter than interval %s: lower the timeout or raise the interval", p.timeout, p.interval)
	}
	if line, set := pp.lines["fast_interval"]; !set {
		p.fast = min(defaultFast, p.interval)
	} else if p.fast > p.interval {
		return errAt(c, line, "fast_interval %s must not be longer than interval %s: it speeds up confirmation", p.fast, p.interval)
	}
	return nil
}

// steering checks the options of performance steering against the pool's
// policy and timeout, so that none is accepted that could never act.
func (pp *poolParse) steering(c *caddy.Controller) error {
	p := pp.cfg
	if line, set := pp.lines["fastest_margin"]; set && p.policy != policyFastest {
		return errAt(c, line, "fastest_margin applies to 'policy fastest' only, and this pool's policy is %s: add 'policy fastest' or remove the line", p.policy)
	}
	if line, set := pp.lines["slow_rtt"]; set && p.slowRTT >= p.timeout {
		return errAt(c, line, "slow_rtt %s is not shorter than the timeout %s: a round that slow fails, so no target could ever be slow; lower slow_rtt or raise the timeout", p.slowRTT, p.timeout)
	}
	return nil
}

// slowReachable refuses a slow_rtt that no passed round can exceed: when
// every check has a max_latency at or below it, a round that slow fails.
func (pp *poolParse) slowReachable(c *caddy.Controller) error {
	p := pp.cfg
	line, set := pp.lines["slow_rtt"]
	var highest time.Duration
	for _, check := range p.checks {
		if check.MaxLatency() == 0 {
			return nil
		}
		highest = max(highest, check.MaxLatency())
	}
	if set && highest <= p.slowRTT {
		return errAt(c, line, "slow_rtt %s is not below the checks' max_latency (at most %s): a round that slow fails, so no target could ever be slow; lower slow_rtt or raise max_latency", p.slowRTT, highest)
	}
	return nil
}

// buildChecks validates each check with the pool's timeout.
func (pp *poolParse) buildChecks(c *caddy.Controller) error {
	root := dnsserver.GetConfig(c).Root
	for _, pc := range pp.checks {
		cfg := pc.cfg
		cfg.Timeout, cfg.Root = pp.cfg.timeout, root
		check, err := health.NewCheck(cfg)
		if err != nil {
			at := pc.line
			if l := health.ErrorLine(err); l != 0 {
				at = l
			}
			return errAt(c, at, "%v", err)
		}
		pp.cfg.checks = append(pp.cfg.checks, check)
	}
	return nil
}

// poolNameIn normalizes a pool name and finds the zone it belongs to. A name
// with non-ASCII letters is an internationalized name: queries carry its
// IDNA (punycode) form, so that is the pool's name.
func poolNameIn(arg string, zones []string) (name, zone string, err error) {
	if strings.Contains(arg, "*") {
		return "", "", fmt.Errorf("pool name '%s' is a wildcard: wildcard names are not supported, list each name", arg)
	}
	ascii, shown := arg, ""
	if !isASCII(arg) {
		if ascii, err = idna.Lookup.ToASCII(arg); err != nil {
			return "", "", fmt.Errorf("pool name '%s' is not a valid internationalized domain name (%v): correct the letters, or write its punycode (xn--) form", arg, err)
		}
		shown = " (" + arg + ")"
	}
	if _, ok := dns.IsDomainName(ascii); !ok {
		return "", "", fmt.Errorf("pool name '%s' is not a domain name: write a name like www.example.org", arg)
	}
	name = plugin.Name(ascii).Normalize()
	zone = plugin.Zones(zones).Matches(name)
	if zone == "" {
		return "", "", fmt.Errorf("pool name '%s'%s is not inside the zones of this block (%s): write a name under one of them, or add its zone to the 'failover' line",
			name, shown, strings.Join(zones, " "))
	}
	return name, zone, nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// targetOptions are the options of a target line.
var targetOptions = []string{"priority", "weight", "probe", "region"}

func parseTarget(c *caddy.Controller) (target, error) {
	const usage = "write 'target ADDRESS [priority N] [weight N] [probe ADDRESS[:PORT]] [region NAME]'"
	line := c.Line()
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
	t := target{addr: addr, ip: net.IP(addr.AsSlice()), label: addr.String(), priority: defaultPriority, weight: defaultWeight,
		probeAddr: addr, region: -1, line: line}
	seenOpt := map[string]bool{}
	for i := 1; i < len(args); i += 2 {
		if seenOpt[args[i]] {
			return target{}, c.Errf("target option '%s' is given twice: keep one", args[i])
		}
		seenOpt[args[i]] = true
		var err error
		switch args[i] {
		case "probe":
			err = parseProbeAddr(&t, args[i+1])
		case "region":
			t.regionName = args[i+1]
		case "priority":
			t.priority, err = targetNumber(args[i], args[i+1], maxPriority)
		case "weight":
			t.weight, err = targetNumber(args[i], args[i+1], maxWeight)
		default:
			err = fmt.Errorf("unknown target option '%s'%s: %s", args[i], didYouMean(args[i], targetOptions), usage)
		}
		if err != nil {
			return target{}, c.Err(err.Error())
		}
	}
	return t, nil
}

// targetNumber reads the value of a target's priority or weight.
func targetNumber(opt, arg string, limit int) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 || n > limit {
		return 0, fmt.Errorf("target %s '%s' is not a whole number from 0 to %d", opt, arg, limit)
	}
	return n, nil
}

// parseProbeAddr reads the address (and optional port) that a target's
// checks connect to instead of the address it answers with: ADDRESS or
// ADDRESS:PORT for IPv4, [ADDRESS] or [ADDRESS]:PORT for IPv6. Without
// brackets, 2001:db8::10:8081 would be read as an address, not a port.
func parseProbeAddr(t *target, arg string) error {
	if ap, err := netip.ParseAddrPort(arg); err == nil && ap.Port() != 0 && ap.Addr().Zone() == "" {
		// netip requires the brackets around IPv6 and refuses them around IPv4.
		t.probeAddr, t.probePort = ap.Addr().Unmap(), ap.Port()
		return nil
	}
	bare, bracketed := arg, strings.HasPrefix(arg, "[") && strings.HasSuffix(arg, "]")
	if bracketed {
		bare = arg[1 : len(arg)-1]
	}
	a, err := netip.ParseAddr(bare)
	switch {
	case err != nil || a.Zone() != "":
	case a.Is4() && !bracketed:
		t.probeAddr = a
		return nil
	case a.Is6() && bracketed:
		t.probeAddr = a.Unmap()
		return nil
	case a.Is6():
		return unbracketedProbe(arg)
	}
	return fmt.Errorf("probe '%s' is not an address: write 'probe 10.0.0.10', 'probe 10.0.0.10:8081', 'probe [2001:db8::10]' or 'probe [2001:db8::10]:8081'", arg)
}

// unbracketedProbe is the error for an IPv6 probe address without brackets.
// When its last group could be a port, it offers both readings.
func unbracketedProbe(arg string) error {
	if i := strings.LastIndex(arg, ":"); i > 0 {
		host, port := arg[:i], arg[i+1:]
		a, err1 := netip.ParseAddr(host)
		p, err2 := strconv.ParseUint(port, 10, 16)
		if err1 == nil && a.Is6() && err2 == nil && p > 0 {
			return fmt.Errorf("probe '%s' is an IPv6 address without brackets: write 'probe [%s]' for that address, or 'probe [%s]:%s' for port %s of %s",
				arg, arg, host, port, port, host)
		}
	}
	return fmt.Errorf("probe '%s' is an IPv6 address without brackets: write 'probe [%s]', or 'probe [%s]:PORT' with a port", arg, arg, arg)
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
	for c.Next() {
		if c.Val() == "}" {
			return check, nil
		}
		opt := health.Option{Name: c.Val(), Line: c.Line()}
		opt.Args = c.RemainingArgs()
		check.Options = append(check.Options, opt)
	}
	return check, c.EOFErr()
}

// parseRequire reads 'require all|any|N' as the number of checks that must
// pass (0: all); validate compares N with the pool's checks.
func parseRequire(c *caddy.Controller) (int, error) {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return 0, c.Err("require takes one argument: write 'require all', 'require any' or 'require N'")
	}
	switch args[0] {
	case "all":
		return 0, nil
	case "any":
		return 1, nil
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return 0, c.Errf("require '%s' is not all, any or a number of checks from 1: write e.g. 'require any' or 'require 2'", args[0])
	}
	return n, nil
}

// policyWords are the policies, in README order.
var policyWords = []string{"priority", "first", "weighted", "round_robin", "random", "hash", "fastest"}

// parsePolicy reads 'policy NAME'.
func parsePolicy(c *caddy.Controller) (policy, error) {
	w, err := wordArg(c, policyWords, "write e.g. 'policy weighted'")
	return policyNames[w], err
}

// parseFastestMargin reads 'fastest_margin PERCENT DURATION [ROUNDS]'.
func parseFastestMargin(c *caddy.Controller) (fastestMargin, error) {
	const usage = "fastest_margin takes a percentage from 0% to 99%, a duration and optionally a number of rounds from 1 to 100: write e.g. 'fastest_margin 20% 5ms 3'"
	args := c.RemainingArgs()
	if len(args) < 2 || len(args) > 3 {
		return fastestMargin{}, c.Errf("%s (got %d arguments)", usage, len(args))
	}
	m := defaultMargin
	pct, isPct := strings.CutSuffix(args[0], "%")
	n, err := strconv.Atoi(pct)
	if !isPct || err != nil || n < 0 || n > 99 {
		return m, c.Errf("fastest_margin percentage '%s' is not one from 0%% to 99%%: %s", args[0], usage)
	}
	m.percent = n
	if m.min, err = time.ParseDuration(args[1]); err != nil || m.min < 0 {
		return m, c.Errf("fastest_margin duration '%s' is not a duration of 0 or more: %s", args[1], usage)
	}
	if len(args) == 3 {
		if m.rounds, err = strconv.Atoi(args[2]); err != nil || m.rounds < 1 || m.rounds > maxStreak {
			return m, c.Errf("fastest_margin rounds '%s' is not a whole number from 1 to %d: %s", args[2], maxStreak, usage)
		}
	}
	return m, nil
}

// parseAdaptiveTTL reads 'adaptive_ttl MIN MAX'.
func parseAdaptiveTTL(c *caddy.Controller) (lo, hi uint32, err error) {
	args := c.RemainingArgs()
	l, err1 := strconv.Atoi(strings.Join(args[:min(1, len(args))], ""))
	h, err2 := strconv.Atoi(strings.Join(args[min(1, len(args)):], ""))
	if len(args) != 2 || err1 != nil || err2 != nil || l < 0 || h < 1 || l > h || h > maxTTL {
		return 0, 0, c.Errf("adaptive_ttl takes a minimum and a maximum in seconds, 0 <= MIN <= MAX <= %d: write e.g. 'adaptive_ttl 1 30'", maxTTL)
	}
	return uint32(l), uint32(h), nil
}

// parseFailback reads 'failback DURATION|manual'.
func parseFailback(c *caddy.Controller) (hold time.Duration, manual bool, err error) {
	args := c.RemainingArgs()
	if len(args) == 1 && args[0] == "manual" {
		return 0, true, nil
	}
	if len(args) == 1 {
		hold, err = time.ParseDuration(args[0])
	}
	if len(args) != 1 || err != nil || hold < 0 {
		return 0, false, c.Err("failback takes a duration or manual: write e.g. 'failback 5m' or 'failback manual'")
	}
	return hold, false, nil
}

// parseMinHealthy reads 'min_healthy N' or 'min_healthy N%'.
func parseMinHealthy(c *caddy.Controller) (count, percent int, err error) {
	args := c.RemainingArgs()
	const usage = "min_healthy takes a count or a percentage of a tier's targets: write e.g. 'min_healthy 2' or 'min_healthy 50%'"
	if len(args) != 1 {
		return 0, 0, c.Err(usage)
	}
	if pct, isPct := strings.CutSuffix(args[0], "%"); isPct {
		n, err := strconv.Atoi(pct)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, c.Errf("min_healthy '%s' is not a percentage from 1%% to 100%%", args[0])
		}
		return 0, n, nil
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 1000 {
		return 0, 0, c.Errf("%s (got '%s')", usage, args[0])
	}
	return n, 0, nil
}

// parseAllDown reads 'all_down best_tier|all|servfail|nodata|fallback ADDRESS...'.
func parseAllDown(c *caddy.Controller) (mode allDownPolicy, fallback [families][]net.IP, err error) {
	const usage = "all_down takes best_tier, all, servfail, nodata or 'fallback ADDRESS...'"
	args := c.RemainingArgs()
	if len(args) == 0 {
		return 0, fallback, c.Err(usage)
	}
	i := slices.Index(allDownNames, args[0])
	if i < 0 {
		return 0, fallback, c.Errf("%s, not '%s'%s", usage, args[0], didYouMean(args[0], allDownNames))
	}
	mode = allDownPolicy(i)
	if mode != allDownFallback {
		if len(args) > 1 {
			return 0, fallback, c.Errf("all_down %s takes no addresses: only 'all_down fallback ADDRESS...' does", args[0])
		}
		return mode, fallback, nil
	}
	if len(args) == 1 {
		return 0, fallback, c.Err("all_down fallback needs addresses: write e.g. 'all_down fallback 192.0.2.99 2001:db8::99'")
	}
	for _, a := range args[1:] {
		addr, err := netip.ParseAddr(a)
		if err != nil || addr.Zone() != "" || addr.Is4In6() {
			return 0, fallback, c.Errf("all_down fallback address '%s' is not an IPv4 or IPv6 address", a)
		}
		fam := target{addr: addr}.family()
		fallback[fam] = append(fallback[fam], net.IP(addr.AsSlice()))
	}
	return mode, fallback, nil
}
