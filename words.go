package failover

import (
	"strings"

	"github.com/failover-dns/failover/internal/suggest"
)

// didYouMean is the closest valid word for an error message:
// " (did you mean 'WORD'?)", or "".
func didYouMean(word string, valid []string) string {
	if s := suggest.Closest(word, valid); s != "" {
		return " (did you mean '" + s + "'?)"
	}
	return ""
}

// oneOf writes a list of words as "a, b or c".
func oneOf(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
