package health

import (
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// probeLateness shows whether the probe scheduler keeps up: how long after
// its due time each scheduled probe round started.
var probeLateness = promauto.NewHistogram(prometheus.HistogramOpts{
	Namespace: plugin.Namespace,
	Subsystem: "failover",
	Name:      "probe_lateness_seconds",
	Help:      "Histogram of how late scheduled probe rounds started, in seconds.",
	Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .075, .1, .25, .5, 1},
})

// unwatchedTargets counts the targets with the watch on whose watch
// connection the descriptor budget refused (see watchBudget).
var unwatchedTargets = promauto.NewGauge(prometheus.GaugeOpts{
	Namespace: plugin.Namespace,
	Subsystem: "failover",
	Name:      "unwatched_targets",
	Help:      "Targets with the connection watch on that go unwatched because the watch reached its share of the file-descriptor limit.",
})
