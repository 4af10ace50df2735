package health

import (
	"strings"
	"testing"
	"time"
)

// TestSpecID: two processes reading the same Corefile build equal specs
// from scratch; they must agree on the ID, which must change with anything
// that changes the probing and must not reveal a secret header.
func TestSpecID(t *testing.T) {
	const secret = "s3cret-t0ken"
	spec := func(token string) Spec {
		c, err := NewCheck(CheckConfig{URL: "https://www.example.org/health", Timeout: time.Second,
			Options: opts("header X-Token " + token)})
		if err != nil {
			t.Fatal(err)
		}
		return Spec{Addr: loopback, Checks: []*Check{c}, Interval: time.Second, FastInterval: 100 * time.Millisecond,
			Timeout: time.Second, Rise: 2, Fall: 3, Watch: true}
	}
	id := spec(secret).ID()
	if again := spec(secret).ID(); again != id {
		t.Errorf("The same spec built twice has IDs %s and %s, want equal", id, again)
	}
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("ID %q: want 32 lower-case hex digits", id)
	}
	if other := spec(secret + "x").ID(); other == id {
		t.Errorf("Specs differing in a header value share the ID %s", id)
	}
	if strings.Contains(id, secret) || strings.Contains(id, "X-Token") {
		t.Errorf("ID %q reveals the header", id)
	}
}
