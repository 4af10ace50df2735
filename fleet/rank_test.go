package fleet

import (
	"fmt"
	"slices"
	"testing"
)

func TestProbersOfIsTheSameEverywhere(t *testing.T) {
	members := []string{"a", "b", "c"}
	shuffled := []string{"c", "a", "b"}
	for i := range 100 {
		id := fmt.Sprintf("target-%d", i)
		p1, p2 := probersOf(id, members, 2), probersOf(id, shuffled, 2)
		if !slices.Equal(p1, p2) {
			t.Fatalf("%s: %v from one order, %v from another", id, p1, p2)
		}
		if len(p1) != 2 || p1[0] == p1[1] {
			t.Fatalf("%s: probers %v, want 2 distinct", id, p1)
		}
	}
	if got := probersOf("x", []string{"a"}, 2); !slices.Equal(got, []string{"a"}) {
		t.Errorf("one member, K 2: %v, want [a]", got)
	}
	if got := probersOf("x", nil, 2); len(got) != 0 {
		t.Errorf("no members: %v", got)
	}
}

// A member leaving moves only the targets it probed; one joining takes
// only places in top-K lists, and each target changes at most one prober.
func TestProbersOfMovesOnlyWhatItMust(t *testing.T) {
	before := []string{"a", "b", "c", "d"}
	after := []string{"a", "b", "d"} // c left
	moved := 0
	for i := range 2000 {
		id := fmt.Sprintf("t%d", i)
		p1, p2 := probersOf(id, before, 2), probersOf(id, after, 2)
		if !slices.Contains(p1, "c") {
			if !slices.Equal(p1, p2) {
				t.Fatalf("%s: c did not probe it (%v) but its probers changed to %v", id, p1, p2)
			}
			continue
		}
		moved++
		kept := 0
		for _, m := range p1 {
			if m != "c" && slices.Contains(p2, m) {
				kept++
			}
		}
		if kept != 1 {
			t.Fatalf("%s: %v -> %v: the other prober should stay", id, p1, p2)
		}
	}
	// c probed about K/N = half of them.
	if moved < 800 || moved > 1200 {
		t.Errorf("c probed %d of 2000 targets, want about 1000", moved)
	}
}

// Load spreads evenly: each of 3 members probes about K/3 of the targets.
func TestProbersOfSpreadsLoad(t *testing.T) {
	members := []string{"coredns-0", "coredns-1", "coredns-2"}
	count := map[string]int{}
	const n = 9000
	for i := range n {
		for _, m := range probersOf(fmt.Sprintf("%032x", i), members, 2) {
			count[m]++
		}
	}
	for _, m := range members {
		if c := count[m]; c < n*2/3*9/10 || c > n*2/3*11/10 {
			t.Errorf("%s probes %d of %d targets, want about %d", m, c, n, n*2/3)
		}
	}
}
