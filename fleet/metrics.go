package fleet

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The fleet's metrics describe this process's member: one fleet per
// process is the rule (every server block with the same directive shares it).
var (
	modeGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "fleet_mode",
		Help:      "Gauge of how this member decides: 1 for its current mode (joining, fleet: by the quorum of the probers' verdicts, local: alone, etcd lost), 0 for the others.",
	}, []string{"mode"})

	membersGauge = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "fleet_members",
		Help:      "Gauge of the live members of the fleet as this member sees them.",
	})

	probedGauge = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "fleet_targets_probed",
		Help:      "Gauge of the targets this member probes (as one of their probers, as an orphan's, or all of them in local mode).",
	})

	publishedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "fleet_verdicts_published_total",
		Help:      "Counter of the verdicts this member wrote to etcd (a change of state, or of RTT at most every 30 s per target).",
	})

	writesTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "fleet_etcd_writes_total",
		Help:      "Counter of the keys this member wrote or deleted in etcd for verdicts (lease keep-alives and its membership key not counted).",
	})
)

func exportMode(m Mode) {
	for _, each := range []Mode{Joining, Joined, Local} {
		v := 0.0
		if each == m {
			v = 1
		}
		modeGauge.WithLabelValues(each.String()).Set(v)
	}
}

func countWrites(ops, verdicts int) {
	writesTotal.Add(float64(ops))
	publishedTotal.Add(float64(verdicts))
}

// forgetMode clears the gauges when no fleet runs any more.
func forgetMode() {
	modeGauge.Reset()
	membersGauge.Set(0)
	probedGauge.Set(0)
}
