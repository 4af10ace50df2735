package failover

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/failover-dns/failover/internal/suggest"

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

// blockProperties are the properties of the failover block.
var blockProperties = []string{"pool", "overrides", "status", "notify", "fleet"}

func setup(c *caddy.Controller) error {
	f, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	if err := statusConflict(c, f); err != nil {
		return plugin.Error(pluginName, err)
	}
	// Probing starts in OnStartup, never here: a reload that fails after
	// setup never calls OnShutdown, and its goroutines would leak.
	f.gen = generationOf(c)
	f.gen.Handlers = append(f.gen.Handlers, f)
	c.OnStartup(f.OnStartup)
	if regions := f.geoRegions(); len(regions) > 0 {
		c.OnStartup(func() error { warnWithoutGeoIP(c, regions); return nil })
	}
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

// geoRegions are the block's regions that match geoip metadata.
func (f *Failover) geoRegions() []*region {
	var out []*region
	for _, p := range f.pools {
		for _, r := range p.regions {
			if r.geoMatches() {
				out = append(out, r)
			}
		}
	}
	return out
}

// warnAt logs a mistake that does not stop loading, at a Corefile line.
func warnAt(c *caddy.Controller, line int, format string, args ...any) {
	log.Warningf("%s:%d - %s", c.File(), line, fmt.Sprintf(format, args...))
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
	fleetLine := 0
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
			case "status":
				if err := parseStatusProperty(c, f); err != nil {
					return nil, err
				}
			case "notify":
				if err := parseNotifyProperty(c, f); err != nil {
					return nil, err
				}
			case "fleet":
				fleetLine = c.Line()
				if err := parseFleetProperty(c, f); err != nil {
					return nil, err
				}
			default:
				return nil, c.Errf("unknown property '%s'%s: inside 'failover {' write 'pool NAME... {' blocks, 'overrides FILE', 'status ADDRESS', 'notify URL' or 'fleet etcd ENDPOINT...'", c.Val(), didYouMean(c.Val(), blockProperties))
			}
		}
		if len(configs) == 0 {
			return nil, errAt(c, line, "failover has no pool: add 'pool NAME {' with a 'target' and a 'check' inside its block")
		}
		warnUnkeyedFleet(c, f.fleet, fleetLine, configs)
	}
	f.block = strings.Join(c.ServerBlockKeys, " ")
	f.addPools(configs)
	return f, nil
}

// addPools builds the pools of the server block and the names they answer for.
func (f *Failover) addPools(configs []*poolConfig) {
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
		if f.overrides != nil {
			f.overrides.pools = append(f.overrides.pools, cfg.names...)
		}
	}
	for name, entry := range f.names {
		f.markExisting(name, entry.zone)
		f.negTTL = min(f.negTTL, entry.pool.ttl)
	}
	if f.overrides != nil {
		f.overrides.warnUnmatched(f.overrides.current.Load())
	}
}

func parseZones(c *caddy.Controller) ([]string, error) {
	args := c.RemainingArgs()
	if len(args) > 0 && args[len(args)-1] == "{}" { // one token to the lexer, not a zone
		return nil, c.Err("failover has no pool: its block '{}' is empty; write 'failover [ZONES...] {', then 'pool NAME {' blocks, and '}' on its own line")
	}
	for _, a := range args {
		if len(plugin.Host(a).NormalizeExact()) == 0 {
			return nil, c.Errf("zone '%s' is not a domain name: write zones like example.org", a)
		}
	}
	zones := plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
	if len(args) > 0 {
		if err := zonesInServerBlock(c, zones); err != nil {
			return nil, err
		}
	}
	return zones, nil
}

// zonesInServerBlock checks that the failover line's zones are inside the
// server block's: CoreDNS hands a server block only the queries for its
// own zones and refuses the others, so a pool outside them would be
// probed but never answered.
func zonesInServerBlock(c *caddy.Controller, zones []string) error {
	var served plugin.Zones
	for _, key := range c.ServerBlockKeys {
		served = append(served, plugin.Host(key).NormalizeExact()...)
	}
	if len(served) == 0 {
		return nil // not known (a test controller)
	}
	for _, z := range zones {
		if served.Matches(z) == "" {
			return c.Errf("zone '%s' on the failover line is not inside this server block's zones (%s): CoreDNS refuses its queries before failover sees them: add %s to the server block's keys, or give failover zones under %s",
				z, strings.Join(served, " "), strings.TrimSuffix(z, "."), oneOf(served))
		}
	}
	return nil
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
	if err := o.load(); err != nil {
		return c.Err(err.Error())
	}
	f.overrides = o
	return nil
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

// ttlArg reads a TTL in seconds, from lo to maxTTL.
func ttlArg(c *caddy.Controller, lo int) (uint32, error) {
	n, err := intArg(c, lo, maxTTL)
	return uint32(n), err
}

// wordArg reads a property that takes one of the words valid.
func wordArg(c *caddy.Controller, valid []string, hint string) (string, error) {
	prop, list := c.Val(), oneOf(valid)
	if len(valid) > 2 {
		list = "one of " + list
	}
	args := c.RemainingArgs()
	if len(args) != 1 {
		return "", c.Errf("%s takes %s: %s", prop, list, hint)
	}
	if !slices.Contains(valid, args[0]) {
		if s := suggest.Closest(args[0], valid); s != "" {
			return "", c.Errf("%s takes %s, not '%s': did you mean '%s'?", prop, list, args[0], s)
		}
		return "", c.Errf("%s takes %s, not '%s': %s", prop, list, args[0], hint)
	}
	return args[0], nil
}

// optionBlock reads the optional '{ ... }' block that follows a property's
// arguments on its line, calling option with each line's first word as
// c.Val(), until the closing '}'.
func optionBlock(c *caddy.Controller, option func() error) error {
	for hasBlock := c.NextArg(); hasBlock; { // the '{' on the property's line
		if !c.Next() {
			return c.EOFErr()
		}
		if c.Val() == "}" {
			return nil
		}
		if err := option(); err != nil {
			return err
		}
	}
	return nil
}

// flagArg is wordArg for two words; it reports whether the word is yes.
func flagArg(c *caddy.Controller, words [2]string, yes, hint string) (bool, error) {
	w, err := wordArg(c, words[:], hint)
	return w == yes, err
}
