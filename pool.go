package failover

import (
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failover-dns/failover/health"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
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
	addr      netip.Addr
	ip        net.IP // addr in the form dns.A / dns.AAAA want
	label     string // addr as a metric label and in logs
	priority  int    // lower is preferred
	weight    int    // kept for weighted policies
	probeAddr netip.Addr
	probePort uint16 // 0: each check's own port
}

func (t target) family() int {
	if t.addr.Is4() {
		return v4
	}
	return v6
}

// answer is what a pool serves for one family. It is rebuilt when a target's
// state changes and read lock-free on the query path; it is never modified
// after it is published.
type answer struct {
	ips      []net.IP
	failOpen bool // every target of the family is down; ips is the best tier anyway
}

// records builds the answer's resource records for qname. Each query gets
// its own records (other plugins may rewrite them); they share one
// allocation.
func (a *answer) records(qname string, qtype uint16, ttl uint32) []dns.RR {
	rrs := make([]dns.RR, len(a.ips))
	hdr := dns.RR_Header{Name: qname, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
	if qtype == dns.TypeA {
		recs := make([]dns.A, len(a.ips))
		for i, ip := range a.ips {
			recs[i] = dns.A{Hdr: hdr, A: ip}
			rrs[i] = &recs[i]
		}
		return rrs
	}
	recs := make([]dns.AAAA, len(a.ips))
	for i, ip := range a.ips {
		recs[i] = dns.AAAA{Hdr: hdr, AAAA: ip}
		rrs[i] = &recs[i]
	}
	return rrs
}

// answerCounters caches a pool's answers_total series for one server, so
// that counting an answer costs no label lookup. A handler normally serves
// one server address; another one just replaces the cache.
type answerCounters struct {
	server string
	total  [families][2]prometheus.Counter // [family][fail open]
}

var answerResult = [2]string{"healthy", "fail_open"}

func (p *pool) countAnswer(server string, qtype uint16, failOpen bool) {
	c := p.counters.Load()
	if c == nil || c.server != server {
		c = &answerCounters{server: server}
		for fam := range families {
			for i, result := range answerResult {
				c.total[fam][i] = answersTotal.WithLabelValues(server, p.name, familyType[fam], result)
			}
		}
		p.counters.Store(c)
	}
	fam, open := v4, 0
	if qtype == dns.TypeAAAA {
		fam = v6
	}
	if failOpen {
		open = 1
	}
	c.total[fam][open].Inc()
}

// pool is a set of names answered from a set of health-checked targets.
type pool struct {
	name     string   // the first name: the pool's metric label and log name
	names    []string // every name the pool answers for, lower case, fully qualified
	targets  []target
	byFamily [families][]int // target indexes of each family, best priority first, then config order
	checks   []*health.Check
	require  int // checks that must pass; 0: all
	interval time.Duration
	fast     time.Duration
	timeout  time.Duration
	rise     int
	fall     int
	watch    bool
	ttl      uint32

	monitors []*health.Monitor // while started
	unsubs   []func()

	answers  [families]atomic.Pointer[answer]
	ready    atomic.Bool // every target has a first verdict
	counters atomic.Pointer[answerCounters]

	mu       sync.Mutex // guards the fields below; held by probe goroutines only
	states   []health.State
	verdicts int
	failOpen [families]bool
}

// init prepares derived fields once the pool's configuration is complete.
func (p *pool) init() {
	p.name = p.names[0]
	for i, t := range p.targets {
		p.byFamily[t.family()] = append(p.byFamily[t.family()], i)
	}
	for fam := range p.byFamily {
		sort.SliceStable(p.byFamily[fam], func(a, b int) bool {
			return p.targets[p.byFamily[fam][a]].priority < p.targets[p.byFamily[fam][b]].priority
		})
	}
	p.states = make([]health.State, len(p.targets))
	p.publish()
}

// start subscribes to one monitor per target, sharing monitors with every
// other pool (and the previous configuration) that probes the same way.
func (p *pool) start() {
	acquireSeries(p)
	for i, t := range p.targets {
		m := health.Acquire(health.Spec{
			Addr:         t.probeAddr,
			Port:         t.probePort,
			Checks:       p.checks,
			Require:      p.require,
			Interval:     p.interval,
			FastInterval: p.fast,
			Timeout:      p.timeout,
			Rise:         p.rise,
			Fall:         p.fall,
			Watch:        p.watch,
		})
		p.monitors = append(p.monitors, m)
		p.unsubs = append(p.unsubs, m.Subscribe(func(u health.Update) { p.observe(i, u) }))
	}
}

// stop unsubscribes and releases what start acquired; monitors nobody
// else uses stop, and Release waits for their goroutines.
func (p *pool) stop() {
	for i, m := range p.monitors {
		p.unsubs[i]()
		m.Release()
	}
	p.monitors, p.unsubs = nil, nil
	for _, c := range p.checks {
		c.Close()
	}
	releaseSeries(p)
}

func (p *pool) observe(i int, u health.Update) {
	r, s := u.Result, u.State
	if !u.Replay {
		result := "success"
		if !r.OK {
			result = r.Reason
		}
		probesTotal.WithLabelValues(p.name, result).Inc()
		probeDuration.WithLabelValues(p.name).Observe(r.Duration.Seconds())
	}
	if !u.Changed {
		return
	}

	t := p.targets[i]
	up := 0.0
	if s == health.Up {
		up = 1
	}
	targetUp.WithLabelValues(p.name, t.label).Set(up)
	transitionsTotal.WithLabelValues(p.name, t.label, s.String()).Inc()

	p.mu.Lock()
	defer p.mu.Unlock()
	// Log every change, except a first verdict of UP: at start-up that is
	// the normal case for every target and would only be noise.
	switch {
	case !r.OK:
		log.Infof("Pool %s: target %s is %s (last probe: %s)", p.name, t.label, s, r.Reason)
	case p.states[i] != health.Unknown:
		log.Infof("Pool %s: target %s is %s", p.name, t.label, s)
	}
	if p.states[i] == health.Unknown {
		p.verdicts++
		if p.verdicts == len(p.targets) {
			p.ready.Store(true)
		}
	}
	p.states[i] = s
	p.publish()
}

// publish rebuilds both families' answers from the current states. Called
// with p.mu held (or before the pool is shared).
func (p *pool) publish() {
	for fam, idx := range p.byFamily {
		if len(idx) == 0 {
			continue
		}
		a := p.choose(idx)
		if a.failOpen && !p.failOpen[fam] {
			allDownTotal.WithLabelValues(p.name, familyType[fam]).Inc()
			log.Warningf("Pool %s: every %s target is down; answering with the best tier anyway", p.name, familyType[fam])
		}
		p.failOpen[fam] = a.failOpen
		p.answers[fam].Store(a)
	}
}

// choose returns every target of the best priority tier that has at least
// one target not DOWN (a target with no verdict yet counts as up). When
// every target is down it fails open with the whole best tier.
func (p *pool) choose(idx []int) *answer {
	for start := 0; start < len(idx); {
		prio := p.targets[idx[start]].priority
		var ips []net.IP
		end := start
		for ; end < len(idx) && p.targets[idx[end]].priority == prio; end++ {
			if p.states[idx[end]] != health.Down {
				ips = append(ips, p.targets[idx[end]].ip)
			}
		}
		if len(ips) > 0 {
			return &answer{ips: ips}
		}
		start = end
	}
	a := &answer{failOpen: true}
	best := p.targets[idx[0]].priority
	for _, i := range idx {
		if p.targets[i].priority == best {
			a.ips = append(a.ips, p.targets[i].ip)
		}
	}
	return a
}
