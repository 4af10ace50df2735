package health

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// probeLateness shows whether the probe scheduler keeps up: how long after
// its due time each scheduled probe round started.
var probeLateness = promauto.NewHistogram(prometheus.HistogramOpts{
	Namespace: "coredns",
	Subsystem: "failover",
	Name:      "probe_lateness_seconds",
	Help:      "Histogram of how late scheduled probe rounds started, in seconds.",
	Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .075, .1, .25, .5, 1},
})
