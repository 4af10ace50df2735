// Package suggest finds the valid word closest to a mistyped one, so that
// configuration errors can say "did you mean ...?".
package suggest

import "strings"

// MaxDistance is the largest edit distance at which a word is suggested:
// two typos, or a swapped pair of letters, but not a different word.
const MaxDistance = 2

// Closest returns the word of valid nearest to word by edit distance
// (insertions, deletions and substitutions of runes, ignoring case), if it
// is at most MaxDistance away, differs in at most half the letters of the
// longer word, and is not word itself; otherwise "". A word of three or
// more letters that begins exactly one valid word counts as one edit away
// from it (an abbreviation: 'prio' for 'priority'). Ties go to the earlier
// word of valid.
func Closest(word string, valid []string) string {
	w := []rune(strings.ToLower(word))
	abbreviates := ""
	if len(w) >= 3 {
		for _, v := range valid {
			if strings.HasPrefix(strings.ToLower(v), string(w)) {
				if abbreviates != "" {
					abbreviates = ""
					break
				}
				abbreviates = v
			}
		}
	}
	best, bestDist := "", MaxDistance+1
	for _, v := range valid {
		if v == word {
			return ""
		}
		r := []rune(strings.ToLower(v))
		d := distance(w, r)
		if v == abbreviates {
			d = min(d, 1)
		}
		if d < bestDist && 2*d <= max(len(w), len(r)) {
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
