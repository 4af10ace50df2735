// Package e2e holds the end-to-end tests whose dependencies (a browser
// driver) CoreDNS builds importing the plugin must not inherit: it is a
// module of its own.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/failover-dns/failover"
)

func TestMain(m *testing.M) {
	// Place failover in the plugin chain as plugin/main.go does.
	if err := dnsserver.SetDirectives(failover.Directives(dnsserver.Directives)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
