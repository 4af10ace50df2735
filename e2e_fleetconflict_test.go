package failover_test

import (
	"strings"
	"testing"

	"github.com/coredns/coredns/test"
)

// TestFleetLinesConflict: two server blocks that make this process the same
// fleet member with different fleet lines fail the load, saying which.
func TestFleetLinesConflict(t *testing.T) {
	block := func(zone, probers string) string {
		return zone + `:0 {
    failover {
        fleet etcd http://127.0.0.1:9 {
            member ns1
            probers ` + probers + `
        }
        pool www.` + zone + ` {
            target 192.0.2.10
            check tcp://www.` + zone + `:80
        }
    }
}
`
	}
	_, err := test.CoreDNSServer(block("example.org", "2") + block("example.net", "3"))
	if err == nil || !strings.Contains(err.Error(), "member ns1") || !strings.Contains(err.Error(), "same fleet line") {
		t.Fatalf("Two different fleet lines for one member: %v", err)
	}
	inst, err := test.CoreDNSServer(block("example.org", "2") + block("example.net", "2"))
	if err != nil {
		t.Fatalf("The same fleet line in two server blocks: %v", err)
	}
	inst.ShutdownCallbacks()
	inst.Stop()
}
