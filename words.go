package failover

import "strings"

// closest returns the word of valid nearest to word by edit distance, when
// it is near enough to be what was meant (at most half the letters of the
// longer word differ, or word begins it), or "". Ties go to the earlier word.
func closest(word string, valid []string) string {
	best, bestDist := "", -1
	w := strings.ToLower(word)
	for _, v := range valid {
		d := editDistance(w, strings.ToLower(v))
		if len(w) >= 3 && strings.HasPrefix(strings.ToLower(v), w) {
			d = min(d, 1)
		}
		if 2*d <= max(len(w), len(v)) && (bestDist < 0 || d < bestDist) {
			best, bestDist = v, d
		}
	}
	return best
}

// suggest is closest for an error message: " (did you mean 'WORD'?)", or "".
func suggest(word string, valid []string) string {
	if s := closest(word, valid); s != "" {
		return " (did you mean '" + s + "'?)"
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (the words compared are ASCII keywords).
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// oneOf writes a list of words as "a, b or c".
func oneOf(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
