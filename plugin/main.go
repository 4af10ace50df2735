// Command coredns is CoreDNS with all its standard plugins plus failover,
// which sits just before hosts in the plugin chain (see failover.Directives).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/core/plugin" // every standard plugin
	"github.com/coredns/coredns/coremain"
	"github.com/failover-dns/failover"
)

func init() {
	if err := dnsserver.SetDirectives(failover.Directives(dnsserver.Directives)); err != nil {
		panic(err) // failover.Directives never yields an empty or duplicate name
	}
}

func main() { coremain.Run() }
