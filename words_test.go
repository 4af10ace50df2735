package failover

import (
	"testing"

	"github.com/failover-dns/failover/internal/suggest"
)

// TestClosestWords: the words of the Corefile errors are suggested for
// their usual misspellings.
func TestClosestWords(t *testing.T) {
	policies := []string{"priority", "first", "weighted", "round_robin", "random", "hash"}
	for _, tc := range []struct {
		word  string
		valid []string
		want  string
	}{
		{"round-robin", policies, "round_robin"},
		{"roundrobin", policies, "round_robin"},
		{"Weighted", policies, "weighted"},
		{"wieghted", policies, "weighted"},
		{"prio", []string{"priority", "weight", "probe", "region"}, "priority"}, // an abbreviation beats a nearer word
		{"intervall", poolPropertyNames, "interval"},
		{"fastinterval", poolPropertyNames, "fast_interval"},
		{"pools", []string{"pool", "overrides"}, "pool"},
		{"overide", []string{"pool", "overrides"}, "overrides"},
		{"servfial", allDownNames, "servfail"},
		{"foo", policies, ""}, // nothing near: no guess
		{"fastest", policies, ""},
		{"x", []string{"all", "any"}, ""},
		{"", policies, ""},
	} {
		if got := suggest.Closest(tc.word, tc.valid); got != tc.want {
			t.Errorf("Closest(%q): got %q, want %q", tc.word, got, tc.want)
		}
	}
}
