// Package suggest finds the valid word closest to a mistyped one, so that
// configuration errors can say "did you mean ...?".
package suggest

// MaxDistance is the largest edit distance at which a word is suggested:
// two typos, or a swapped pair of letters, but not a different word.
const MaxDistance = 2

// Closest returns the word of valid nearest to word by edit distance
// (insertions, deletions and substitutions of runes), if it is at most
// MaxDistance away and not word itself; otherwise "". Ties go to the
// earlier word of valid.
func Closest(word string, valid []string) string {
	best, bestDist := "", MaxDistance+1
	for _, v := range valid {
		if v == word {
			continue
		}
		if d := distance([]rune(word), []rune(v)); d < bestDist {
			best, bestDist = v, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
