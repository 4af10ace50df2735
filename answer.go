package failover

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net"
	"sync/atomic"

	"github.com/miekg/dns"
)

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
	ips     []net.IP // candidates, in configuration order (policy fastest: fastest first)
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
	case policyPriority, policyFastest:
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

// hashUnit maps a client prefix and a target address to (0,1). FNV-1a alone
// leaves keys that differ in their last bytes (adjacent addresses) close
// together in the high bits used here; the finalizer of SplitMix64 spreads
// every input bit over the whole result. The mapping is fixed, so every
// replica and every restart sends a client to the same target.
func hashUnit(client []byte, ip net.IP) float64 {
	h := fnv.New64a()
	h.Write(client)
	h.Write(ip)
	v := mix64(h.Sum64())
	return (float64(v>>11) + 0.5) / (1 << 53)
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
