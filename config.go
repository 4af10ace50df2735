package failover

import (
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/failover-dns/failover/health"
)

// Address families, as indexes into per-family arrays.
const (
	v4 = iota
	v6
	families
)

var familyType = [families]string{v4: "A", v6: "AAAA"}

// target is one address a pool can answer with.
type target struct {
	addr       netip.Addr
	ip         net.IP // addr in the form dns.A / dns.AAAA want
	label      string // addr as a metric label and in logs
	priority   int    // lower is preferred
	weight     int    // kept for weighted policies
	probeAddr  netip.Addr
	probePort  uint16 // 0: each check's own port
	region     int    // index into the pool's regions; -1: none
	regionName string
	line       int // Corefile line, for errors found after the pool is read
}

func (t target) family() int {
	if t.addr.Is4() {
		return v4
	}
	return v6
}

// poolConfig is a pool as the Corefile describes it. parse builds it; it is
// never changed once the pool exists, so it is read without locks.
type poolConfig struct {
	name    string   // the first name: the pool's metric label and log name
	names   []string // every name the pool answers for, lower case, fully qualified
	zones   []string // the zone of each name
	targets []target
	// tiers holds, per family, the target indexes of each priority tier,
	// best priority first, each tier in configuration order.
	tiers    [families][][]int
	checks   []*health.Check
	require  int // checks that must pass; 0: all
	interval time.Duration
	fast     time.Duration
	timeout  time.Duration
	rise     int
	fall     int
	watch    bool
	ttl      uint32

	policy      policy
	maxAnswers  int           // 0: no cap
	margin      fastestMargin // policy fastest: when another target wins
	slowRTT     time.Duration // a target slower than this (smoothed RTT) is slow; 0: off
	minHealthy  int           // UP targets a tier needs, or
	minPercent  int           // percent of its targets that must be UP (0: use minHealthy)
	allDown     allDownPolicy
	fallback    [families][]net.IP // all_down fallback addresses
	startDown   bool               // targets count as down until their first verdict
	degradedTTL uint32             // TTL while any target is down; 0: ttl
	adaptiveMin uint32             // adaptive TTL bounds; adaptiveMax 0: off
	adaptiveMax uint32
	failback    time.Duration // a better tier must have been UP this long to win back
	manual      bool          // never fail back on its own: only targets forced up win back
	regions     []*region
	geoRegions  bool // some region matches geoip metadata
}

// finish derives the fields that follow from the others, once parsing is done.
func (c *poolConfig) finish() {
	c.name = c.names[0]
	for fam := range families {
		var idx []int
		for i, t := range c.targets {
			if t.family() == fam {
				idx = append(idx, i)
			}
		}
		sort.SliceStable(idx, func(a, b int) bool { return c.targets[idx[a]].priority < c.targets[idx[b]].priority })
		c.tiers[fam] = nil
		for start := 0; start < len(idx); {
			end := start + 1
			for end < len(idx) && c.targets[idx[end]].priority == c.targets[idx[start]].priority {
				end++
			}
			c.tiers[fam] = append(c.tiers[fam], idx[start:end:end])
			start = end
		}
	}
}

// spec says how target i is probed; equal specs share one health monitor.
func (c *poolConfig) spec(i int) health.Spec {
	t := c.targets[i]
	return health.Spec{
		Addr:         t.probeAddr,
		Port:         t.probePort,
		Checks:       c.checks,
		Require:      c.require,
		Interval:     c.interval,
		FastInterval: c.fast,
		Timeout:      c.timeout,
		Rise:         c.rise,
		Fall:         c.fall,
		Watch:        c.watch,
	}
}
