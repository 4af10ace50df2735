package failover

import (
	"fmt"
	"math"
	"net"
	"testing"

	"github.com/miekg/dns"
)

func testAnswer(weights ...int) *answer {
	a := &answer{}
	for i, w := range weights {
		a.ips = append(a.ips, net.IPv4(192, 0, 2, byte(10+i)).To4())
		a.weights = append(a.weights, w)
	}
	return a
}

func TestPolicyPriorityAndFirst(t *testing.T) {
	a := testAnswer(1, 1, 1)
	var buf [maxPick]net.IP
	if got := a.pick(policyPriority, 0, nil, &buf); len(got) != 3 {
		t.Errorf("priority: got %v, want every candidate", got)
	}
	if got := a.pick(policyPriority, 2, nil, &buf); len(got) != 2 || !got[0].Equal(a.ips[0]) {
		t.Errorf("priority with max_answers 2: got %v", got)
	}
	for range 10 {
		if got := a.pick(policyFirst, 0, nil, &buf); len(got) != 1 || !got[0].Equal(a.ips[0]) {
			t.Fatalf("first: got %v, want %v", got, a.ips[0])
		}
	}
}

func TestPolicyRoundRobinRotates(t *testing.T) {
	a := testAnswer(1, 1, 1)
	var buf [maxPick]net.IP
	for i := range 9 {
		got := a.pick(policyRoundRobin, 0, nil, &buf)
		if len(got) != 3 || !got[0].Equal(a.ips[i%3]) || !got[1].Equal(a.ips[(i+1)%3]) {
			t.Fatalf("Query %d: got %v, want the list rotated by %d", i, got, i%3)
		}
	}
	if got := a.pick(policyRoundRobin, 1, nil, &buf); len(got) != 1 {
		t.Errorf("round_robin with max_answers 1: got %v", got)
	}
}

func TestPolicyRandomShuffles(t *testing.T) {
	a := testAnswer(1, 1, 1)
	var buf [maxPick]net.IP
	firsts := map[string]int{}
	const n = 30000
	for range n {
		got := a.pick(policyRandom, 0, nil, &buf)
		if len(got) != 3 {
			t.Fatalf("random: got %v", got)
		}
		firsts[got[0].String()]++
	}
	for ip, c := range firsts {
		if share := float64(c) / n; math.Abs(share-1.0/3) > 0.02 {
			t.Errorf("random: %s came first in %.3f of answers, want 1/3 ± 0.02", ip, share)
		}
	}
}

func TestPolicyWeightedDistribution(t *testing.T) {
	a := testAnswer(1, 3, 0, 6) // 10 % , 30 %, never, 60 %
	var buf [maxPick]net.IP
	counts := map[string]int{}
	const n = 50000
	for range n {
		got := a.pick(policyWeighted, 0, nil, &buf)
		if len(got) != 1 {
			t.Fatalf("weighted: got %v, want one answer", got)
		}
		counts[got[0].String()]++
	}
	for i, want := range []float64{0.1, 0.3, 0, 0.6} {
		if share := float64(counts[a.ips[i].String()]) / n; math.Abs(share-want) > 0.015 {
			t.Errorf("weighted: %s got %.3f of answers, want %.2f ± 0.015", a.ips[i], share, want)
		}
	}
	if got := a.pick(policyWeighted, 2, nil, &buf); len(got) != 2 || got[0].Equal(got[1]) {
		t.Errorf("weighted with max_answers 2: got %v, want two different targets", got)
	}
}

// TestPolicyHashStable: each client subnet keeps its target, and when a
// target fails only its clients move.
func TestPolicyHashStable(t *testing.T) {
	all := testAnswer(1, 1, 1, 1)
	var buf [maxPick]net.IP
	const clients = 20000
	before := make([]string, clients)
	perTarget := map[string]int{}
	for c := range clients {
		subnet := []byte(fmt.Sprintf("10.%d.%d.0", c/256, c%256))
		got := all.pick(policyHash, 0, subnet, &buf)
		if again := all.pick(policyHash, 0, subnet, &buf); !again[0].Equal(got[0]) {
			t.Fatalf("Client %d got %v then %v", c, got, again)
		}
		before[c] = got[0].String()
		perTarget[before[c]]++
	}
	for ip, n := range perTarget {
		if share := float64(n) / clients; math.Abs(share-0.25) > 0.02 {
			t.Errorf("hash: %s serves %.3f of clients, want 0.25 ± 0.02", ip, share)
		}
	}
	// The third target fails.
	failed := all.ips[2].String()
	rest := &answer{ips: []net.IP{all.ips[0], all.ips[1], all.ips[3]}, weights: []int{1, 1, 1}}
	kept, others := 0, 0
	for c := range clients {
		if before[c] == failed {
			continue
		}
		others++
		subnet := []byte(fmt.Sprintf("10.%d.%d.0", c/256, c%256))
		if rest.pick(policyHash, 0, subnet, &buf)[0].String() == before[c] {
			kept++
		}
	}
	if share := float64(kept) / float64(others); share < 0.99 {
		t.Errorf("hash: %.4f of the clients of healthy targets kept their target when another failed, want >= 0.99", share)
	}
}

func TestMinHealthyNeeded(t *testing.T) {
	for _, tc := range []struct {
		count, pct, tier, want int
	}{
		{0, 0, 4, 1}, {2, 0, 4, 2}, {2, 0, 1, 1}, {0, 50, 4, 2}, {0, 50, 3, 2}, {0, 100, 3, 3}, {0, 1, 10, 1},
	} {
		p := &poolConfig{minHealthy: tc.count, minPercent: tc.pct}
		if got := p.needed(tc.tier); got != tc.want {
			t.Errorf("min_healthy %d / %d%% of %d targets: need %d, want %d", tc.count, tc.pct, tc.tier, got, tc.want)
		}
	}
}

// hashKeys returns the hash keys of n client /24 subnets, as clientOf and
// hashKey make them for queries from those subnets.
func hashKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		remote := &net.UDPAddr{IP: net.IPv4(10, byte(i>>8), byte(i), 1).To4(), Port: 5353}
		keys[i] = clientOf(new(dns.Msg), remote).hashKey(make([]byte, 0, 17))
	}
	return keys
}

// TestPolicyHashShares: over 10,000 client subnets, targets whose addresses
// differ only in the last byte get shares proportional to their weights
// (within 3 points), and when one leaves, no client of another moves.
func TestPolicyHashShares(t *testing.T) {
	keys := hashKeys(10000)
	for _, weights := range [][]int{{1, 1, 1, 1}, {2, 2, 1, 1}, {1, 3}, {5, 1, 1, 1, 1, 1}, {1, 1}, {10, 1}} {
		a := testAnswer(weights...)
		var buf [maxPick]net.IP
		total := 0
		for _, w := range weights {
			total += w
		}
		counts := map[string]int{}
		before := make([]string, len(keys))
		for i, k := range keys {
			before[i] = a.pick(policyHash, 0, k, &buf)[0].String()
			counts[before[i]]++
		}
		for i, w := range weights {
			want := float64(w) / float64(total)
			if got := float64(counts[a.ips[i].String()]) / float64(len(keys)); math.Abs(got-want) > 0.03 {
				t.Errorf("Weights %v: %s serves %.3f of subnets, want %.3f ± 0.03", weights, a.ips[i], got, want)
			}
		}
		// The first target leaves: only its clients move.
		rest := &answer{ips: a.ips[1:], weights: a.weights[1:]}
		for i, k := range keys {
			if before[i] == a.ips[0].String() {
				continue
			}
			if got := rest.pick(policyHash, 0, k, &buf)[0].String(); got != before[i] {
				t.Fatalf("Weights %v: subnet %d moved from %s to %s when another target left", weights, i, before[i], got)
			}
		}
	}
}
