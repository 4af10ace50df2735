package fleet

import (
	"hash/fnv"
	"slices"
)

// probersOf returns the k members that probe a target, best-ranked first,
// by rendezvous (highest random weight) hashing: each member scores
// hash(target, member) and the k highest probe. Every replica with the
// same member list computes the same probers, and a member joining or
// leaving moves only the targets whose top k it enters or leaves.
func probersOf(target string, members []string, k int) []string {
	type ranked struct {
		member string
		score  uint64
	}
	all := make([]ranked, len(members))
	for i, m := range members {
		all[i] = ranked{m, score(target, m)}
	}
	slices.SortFunc(all, func(a, b ranked) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return compareStrings(a.member, b.member)
	})
	out := make([]string, 0, min(k, len(all)))
	for _, r := range all[:min(k, len(all))] {
		out = append(out, r.member)
	}
	return out
}

// score is a member's weight for a target: FNV-1a of both, mixed by
// SplitMix64's finalizer so that similar names spread evenly. The same on
// every machine (no per-process seed).
func score(target, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write([]byte(member))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
