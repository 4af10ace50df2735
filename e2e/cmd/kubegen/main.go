// Command kubegen writes the generated monitoring manifests of
// deploy/kubernetes/monitoring (the PrometheusRule from
// alerts/failover.rules.yml, the dashboard's ConfigMap from
// dashboards/failover.json): 'make kubernetes'. Run it from the e2e
// directory, or give the repository's root with -root.
package main

import (
	"flag"
	"log"

	"github.com/failover-dns/failover/e2e/kubernetes"
)

func main() {
	root := flag.String("root", "..", "the repository's root")
	flag.Parse()
	if err := kubernetes.WriteAll(*root); err != nil {
		log.Fatal(err)
	}
}
