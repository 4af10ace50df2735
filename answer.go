package failover

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// policy picks the answer's targets from the chosen tier.
type policy uint8

const (
	policyPriority   policy = iota // every UP target of the tier
	policyFirst                    // the first UP target in configuration order
	policyWeighted                 // weighted random
	policyRoundRobin               // every UP target, rotated per query
	policyRandom                   // every UP target, shuffled per query
	policyHash                     // rendezvous hash of the client's subnet
)

var policyNames = map[string]policy{
	"priority": policyPriority, "first": policyFirst, "weighted": policyWeighted,
	"round_robin": policyRoundRobin, "random": policyRandom, "hash": policyHash,
}

// allDownPolicy says what a family answers when none of its targets is up.
type allDownPolicy uint8

const (
	allDownBestTier allDownPolicy = iota
	allDownAll
	allDownServfail
	allDownNodata
	allDownFallback
)

var allDownNames = []string{"best_tier", "all", "servfail", "nodata", "fallback"}

func (a allDownPolicy) String() string { return allDownNames[a] }

// Results of an answer, the result label of answers_total.
const (
	resultHealthy = iota
	resultFailOpen
	resultServfail
	resultNodata
)

var answerResults = [...]string{"healthy", "fail_open", "servfail", "nodata"}

// answer is what a pool serves for one family. It is rebuilt when a target's
// state changes and read lock-free on the query path; apart from the
// round-robin counter it is never modified after it is published.
type answer struct {
	tier    []int    // target indexes behind ips (none for fallback addresses)
	ips     []net.IP // candidates, in configuration order
	weights []int    // of the candidates, for weighted and hash
	ttl     uint32
	result  int
	next    atomic.Uint32 // round-robin position
}

// maxPick bounds the answers chosen per query on the stack.
const maxPick = 16

// pick returns the addresses to answer with under policy p, at most max
// (0: no cap). client is the client's subnet, for the hash policy.
func (a *answer) pick(p policy, max int, client []byte, buf *[maxPick]net.IP) []net.IP {
	n := len(a.ips)
	if max > 0 && max < n {
		n = max
	}
	switch p {
	case policyPriority:
		return a.ips[:n]
	case policyFirst:
		return a.ips[:1]
	case policyRoundRobin:
		start := int(a.next.Add(1)-1) % len(a.ips)
		out := buf[:0]
		for i := 0; i < n && i < maxPick; i++ {
			out = append(out, a.ips[(start+i)%len(a.ips)])
		}
		return out
	case policyRandom:
		out := buf[:0]
		for i, j := range rand.Perm(len(a.ips)) {
			if i == n || i == maxPick {
				break
			}
			out = append(out, a.ips[j])
		}
		return out
	case policyWeighted:
		return a.ranked(min(max1(max), n), func(i int) float64 { return rand.Float64() }, buf)
	case policyHash:
		return a.ranked(min(max1(max), n), func(i int) float64 { return hashUnit(client, a.ips[i]) }, buf)
	}
	return a.ips[:n]
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// ranked returns the n candidates with the highest weighted scores, where
// a candidate's score is -weight/ln(u) for its u in (0,1): weighted random
// sampling when u is random, weighted rendezvous hashing when u is a hash of
// the client and the candidate (so a client keeps its target, and only the
// clients of a target that leaves move).
func (a *answer) ranked(n int, u func(i int) float64, buf *[maxPick]net.IP) []net.IP {
	var scores [maxPick]float64
	out := buf[:0]
	for i := range a.ips {
		w := float64(a.weights[i])
		if w <= 0 {
			continue
		}
		score := -w / math.Log(u(i))
		// insert into the top-n list kept in out/scores, best first
		pos := len(out)
		for pos > 0 && scores[pos-1] < score {
			pos--
		}
		if pos >= n || pos >= maxPick {
			continue
		}
		if len(out) < n && len(out) < maxPick {
			out = append(out, nil)
		}
		copy(out[pos+1:], out[pos:len(out)-1])
		copy(scores[pos+1:len(out)], scores[pos:len(out)-1])
		out[pos], scores[pos] = a.ips[i], score
	}
	if len(out) == 0 { // every weight is 0: fall back to the first candidate
		return a.ips[:1]
	}
	return out
}

// hashUnit maps a client subnet and a target address to (0,1).
func hashUnit(client []byte, ip net.IP) float64 {
	h := fnv.New64a()
	h.Write(client)
	h.Write(ip)
	v := h.Sum64()
	return (float64(v>>11) + 0.5) / (1 << 53)
}

// records builds the answer's resource records for qname. Each query gets
// its own records (other plugins may rewrite them); they share one
// allocation.
func records(ips []net.IP, qname string, qtype uint16, ttl uint32) []dns.RR {
	rrs := make([]dns.RR, len(ips))
	hdr := dns.RR_Header{Name: qname, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
	if qtype == dns.TypeA {
		recs := make([]dns.A, len(ips))
		for i, ip := range ips {
			recs[i] = dns.A{Hdr: hdr, A: ip}
			rrs[i] = &recs[i]
		}
		return rrs
	}
	recs := make([]dns.AAAA, len(ips))
	for i, ip := range ips {
		recs[i] = dns.AAAA{Hdr: hdr, AAAA: ip}
		rrs[i] = &recs[i]
	}
	return rrs
}

// clientSubnet returns the client's subnet for the hash policy: the EDNS
// Client Subnet option's address when the query has one, else the source
// address masked to /24 (IPv4) or /56 (IPv6). It also returns the option,
// to be echoed with its scope.
func clientSubnet(r *dns.Msg, remote net.Addr) ([]byte, *dns.EDNS0_SUBNET) {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ecs, ok := o.(*dns.EDNS0_SUBNET); ok {
				bits := int(ecs.SourceNetmask)
				addr, size := ecs.Address.To16(), 128
				if ecs.Family == 1 {
					addr, size = ecs.Address.To4(), 32
				}
				if addr == nil || bits > size {
					break
				}
				return append(addr.Mask(net.CIDRMask(bits, size)), byte(bits)), ecs
			}
		}
	}
	var ip net.IP
	switch addr := remote.(type) {
	case *net.UDPAddr:
		ip = addr.IP
	case *net.TCPAddr:
		ip = addr.IP
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.Mask(net.CIDRMask(24, 32)), nil
	}
	if len(ip) == net.IPv6len {
		return ip.Mask(net.CIDRMask(56, 128)), nil
	}
	return nil, nil
}

// choose builds a family's answer from the current states: the UP targets
// of the best priority tier that has enough of them (min_healthy, at least
// one); failing that, the best tier with any UP target; failing that, the
// all_down policy. Drained targets take no part. A target that recovered
// (UP after DOWN) takes part only once it has been UP for the failback
// hold-down, or, with manual failback, once an operator forces it up;
// recovered targets still on hold are used when nothing else is up.
func (p *pool) choose(fam int, idx []int) *answer {
	var fallbackTier, heldBack []int
	now := time.Now()
	var holdUntil time.Time
	for start := 0; start < len(idx); {
		prio := p.targets[idx[start]].priority
		end := start
		var up []int
		size := 0
		for ; end < len(idx) && p.targets[idx[end]].priority == prio; end++ {
			i := idx[end]
			if p.forced[i] == overrideDrain {
				continue
			}
			size++
			if !p.up(i) {
				continue
			}
			if p.recovered[i] && p.forced[i] != overrideUp && (p.manual || p.failback > 0) {
				held := p.manual
				if ready := p.since[i].Add(p.failback); !p.manual && ready.After(now) {
					held = true
					if holdUntil.IsZero() || ready.Before(holdUntil) {
						holdUntil = ready
					}
				}
				if held {
					if heldBack == nil || p.targets[heldBack[0]].priority == prio {
						heldBack = append(heldBack, i)
					}
					continue
				}
			}
			up = append(up, i)
		}
		if len(up) > 0 && len(up) >= p.needed(size) {
			p.holdUntil(holdUntil)
			return p.answerOf(up, resultHealthy)
		}
		if len(up) > 0 && fallbackTier == nil {
			fallbackTier = up
		}
		start = end
	}
	p.holdUntil(holdUntil)
	if fallbackTier == nil {
		fallbackTier = heldBack // a held-back tier beats having nothing
	}
	if fallbackTier != nil {
		return p.answerOf(fallbackTier, resultHealthy)
	}
	var live []int // every target but the drained ones
	for _, i := range idx {
		if p.forced[i] != overrideDrain {
			live = append(live, i)
		}
	}
	switch {
	case p.allDown == allDownServfail:
		return &answer{result: resultServfail}
	case p.allDown == allDownNodata, len(live) == 0:
		return &answer{result: resultNodata}
	case p.allDown == allDownAll:
		return p.answerOf(live, resultFailOpen)
	case p.allDown == allDownFallback:
		if len(p.fallback[fam]) == 0 {
			return &answer{result: resultNodata}
		}
		a := &answer{ips: p.fallback[fam], result: resultFailOpen}
		for range a.ips {
			a.weights = append(a.weights, 1)
		}
		return a
	}
	var best []int
	for _, i := range live {
		if p.targets[i].priority == p.targets[live[0]].priority {
			best = append(best, i)
		}
	}
	return p.answerOf(best, resultFailOpen)
}

// holdUntil arranges a republish when a failback hold-down ends. Called
// with p.mu held.
func (p *pool) holdUntil(t time.Time) {
	if t.IsZero() || p.stopped || (!p.holdAt.IsZero() && p.holdAt.Before(t)) {
		return
	}
	if p.holdTimer != nil {
		p.holdTimer.Stop()
	}
	p.holdAt = t
	p.holdTimer = time.AfterFunc(time.Until(t)+time.Millisecond, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.holdAt = time.Time{}
		if !p.stopped {
			p.publish()
		}
	})
}

// needed is how many UP targets a tier of size n needs to be chosen: the
// min_healthy count (at most the tier's size, so a small backup tier can
// qualify) or percentage, and at least one.
func (p *pool) needed(n int) int {
	if p.minPercent > 0 {
		return max(1, (n*p.minPercent+99)/100)
	}
	return max(1, min(p.minHealthy, n))
}

// answerOf makes an answer of targets, kept in configuration order.
func (p *pool) answerOf(targets []int, result int) *answer {
	a := &answer{result: result}
	order := append([]int(nil), targets...)
	for i := 1; i < len(order); i++ { // insertion sort by index: configuration order
		for j := i; j > 0 && order[j] < order[j-1]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	a.tier = order
	for _, i := range order {
		a.ips = append(a.ips, p.targets[i].ip)
		a.weights = append(a.weights, p.targets[i].weight)
	}
	return a
}
