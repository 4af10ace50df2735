package failover

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// BenchmarkStatusFiltered measures a filtered status request's work (the
// JSON aside) in an estate of 100,000 targets: 1,000 pools of 100.
func BenchmarkStatusFiltered(b *testing.B) {
	var cf strings.Builder
	cf.WriteString("failover example.org {\n")
	for p := range 1000 {
		fmt.Fprintf(&cf, "pool p%d.example.org {\n", p)
		for t := range 100 {
			fmt.Fprintf(&cf, "target 10.%d.%d.%d\n", p/250, p%250, t+1)
		}
		fmt.Fprintf(&cf, "check tcp://p%d.example.org:80\n}\n", p)
	}
	cf.WriteString("}\n")
	start := time.Now()
	f, err := parse(caddy.NewTestController("dns", cf.String()))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("Parsed 100,000 targets in %s", time.Since(start).Round(time.Millisecond))
	f.gen = books.New()
	f.gen.Handlers = []*Failover{f}
	books.Enter(f.gen, false)
	b.Cleanup(func() { books.Leave(f.gen) })
	b.ResetTimer()
	for b.Loop() {
		if pools := (processStatus{}).Pools("p500.example.org"); len(pools) != 1 || len(pools[0].Targets) != 100 {
			b.Fatalf("Got %d pools", len(pools))
		}
	}
}
