package failover

import "testing"

func TestClosest(t *testing.T) {
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
		if got := closest(tc.word, tc.valid); got != tc.want {
			t.Errorf("closest(%q): got %q, want %q", tc.word, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"round-robin", "round_robin", 1}, {"hash", "hash", 0},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q): got %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestOneOf(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{nil, ""}, {[]string{"on"}, "on"}, {[]string{"on", "off"}, "on or off"}, {[]string{"a", "b", "c"}, "a, b or c"},
	} {
		if got := oneOf(tc.words); got != tc.want {
			t.Errorf("oneOf(%q): got %q, want %q", tc.words, got, tc.want)
		}
	}
}

// TestPolicyWords: the words listed in errors are exactly the policies.
func TestPolicyWords(t *testing.T) {
	if len(policyWords) != len(policyNames) {
		t.Fatalf("policyWords %q and policyNames differ in length", policyWords)
	}
	for _, w := range policyWords {
		if _, ok := policyNames[w]; !ok {
			t.Errorf("Policy word %q is not in policyNames", w)
		}
	}
}
