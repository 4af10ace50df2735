package suggest

import "testing"

func TestClosest(t *testing.T) {
	valid := []string{"method", "header", "status", "body_contains", "body_regex", "max_latency"}
	for _, tc := range []struct{ word, want string }{
		{"body_contain", "body_contains"},  // one deletion
		{"bdoy_contains", "body_contains"}, // a swapped pair: two substitutions
		{"metod", "method"},
		{"Method", "method"},
		{"headers", "header"},
		{"stauts", "status"},
		{"bogus", ""},  // nothing close
		{"body", ""},   // a prefix, but far from every word
		{"method", ""}, // already valid: nothing to suggest
		{"max_latenzy", "max_latency"},
		{"", ""},
	} {
		if got := Closest(tc.word, valid); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if got := Closest("ab", []string{"ax", "ay"}); got != "ax" {
		t.Errorf("Tie: got %q, want the earlier word %q", got, "ax")
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"héllo", "hello", 1},
	} {
		if got := distance([]rune(tc.a), []rune(tc.b)); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
