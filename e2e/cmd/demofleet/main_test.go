package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/replicas"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemoOnce runs the scripted demo (-once) as make demo-fleet does, on
// free ports: it succeeds, shows every step, and ends within a minute.
func TestDemoOnce(t *testing.T) {
	const bound = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	err := run(ctx, options{binary: replicas.Binary(t), once: true, out: &out, in: strings.NewReader("")})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("The demo failed after %s: %v\n%s", took, err, out.String())
	}
	if took > bound {
		t.Errorf("The demo took %s, want under %s", took, bound)
	}
	for _, want := range []string{
		"Replica c: dig @127.0.0.1 -p ",
		"probed by ",
		"Primary 127.0.0.1 stopped",
		"b  www.example.org A 127.0.0.2  after ",
		"Primary 127.0.0.1 back:",
		"c  www.example.org A 127.0.0.1  after ",
		"spread between the first and the last replica: ",
		"Replica c killed",
		"a and b saw it leave after ",
		"Replica c restarted: back in the fleet",
		"coredns_failover_fleet_members 3\n",
		"coredns_failover_fleet_targets_probed ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("The demo's output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("The demo took %s", took.Round(time.Millisecond))
}
