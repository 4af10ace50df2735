package failover

import (
	"fmt"

	"github.com/coredns/coredns/plugin"
	"github.com/failover-dns/failover/health"
	"github.com/failover-dns/failover/internal/shared"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Probe metrics are background work and carry no server label; answer
// metrics are per query and do.
var (
	targetUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "target_up",
		Help:      "Gauge of each target's health after rise/fall: 1 up, 0 down. Absent until the target's first probe finishes.",
	}, []string{"pool", "target"})

	targetRTT = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "target_rtt_seconds",
		Help: fmt.Sprintf("Gauge of each target's smoothed round-trip time in seconds: the slowest passed check of each passed probe round "+
			"(each check measuring its own: the connect, the TLS handshake, the first byte of an HTTP response, the DNS or gRPC answer, the echo), "+
			"as an exponentially weighted moving average with factor %g. Absent until the target passes a probe round.", health.RTTFactor),
	}, []string{"pool", "target"})

	targetSlow = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "target_slow",
		Help: "Gauge of whether each target is slow: 1 when its smoothed round-trip time went over the pool's slow_rtt " +
			"and has not yet come back below 80 % of it, else 0. Only for pools with slow_rtt.",
	}, []string{"pool", "target"})

	probesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "probes_total",
		Help:      "Counter of finished probes per pool by result (success or failure).",
	}, []string{"pool", "result"})

	probeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "probe_duration_seconds",
		Help:      "Histogram of the time probes took, per pool.",
		Buckets:   plugin.TimeBuckets,
	}, []string{"pool"})

	transitionsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "transitions_total",
		Help:      "Counter of target state changes, by the state entered (up or down). The first verdict after start-up counts.",
	}, []string{"pool", "target", "to"})

	answersTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "answers_total",
		Help:      "Counter of A and AAAA answers served from pools, by result: healthy; or, with every target of the family down, fail_open, servfail or nodata.",
	}, []string{"server", "pool", "type", "result"})

	targetOverride = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "target_override",
		Help:      "Gauge of operator overrides in force, by target and action (up, down or drain): 1 while one applies.",
	}, []string{"pool", "target", "action"})

	allDownTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "all_down_total",
		Help:      "Counter of times every target of a pool's address family went down, so that its all_down policy engaged.",
	}, []string{"pool", "type"})
)

// series counts the running generations (server instances) that use a pool's
// or a target's metric series. Old and new generations overlap during a
// reload, so a series is deleted only when the last user lets go of it;
// pools and targets removed from the Corefile then vanish from /metrics.
var series shared.Registry[seriesKey, struct{}]

type seriesKey struct{ pool, target string }

func acquireSeries(p *pool) {
	use := func(shared.View[seriesKey, struct{}]) (struct{}, error) { return struct{}{}, nil }
	series.Acquire(seriesKey{pool: p.name}, use)
	for _, t := range p.targets {
		series.Acquire(seriesKey{pool: p.name, target: t.label}, use)
	}
}

// releaseSeries lets go of p's series; the last user deletes them, before
// anyone can use them again (see shared.Registry.ReleaseLocked).
func releaseSeries(p *pool) {
	for _, t := range p.targets {
		series.ReleaseLocked(seriesKey{pool: p.name, target: t.label}, func(struct{}) {
			labels := prometheus.Labels{"pool": p.name, "target": t.label}
			targetUp.DeletePartialMatch(labels)
			targetRTT.DeletePartialMatch(labels)
			targetSlow.DeletePartialMatch(labels)
			transitionsTotal.DeletePartialMatch(labels)
			targetOverride.DeletePartialMatch(labels)
		})
	}
	series.ReleaseLocked(seriesKey{pool: p.name}, func(struct{}) {
		labels := prometheus.Labels{"pool": p.name}
		targetUp.DeletePartialMatch(labels)
		targetRTT.DeletePartialMatch(labels)
		targetSlow.DeletePartialMatch(labels)
		probesTotal.DeletePartialMatch(labels)
		probeDuration.DeletePartialMatch(labels)
		transitionsTotal.DeletePartialMatch(labels)
		answersTotal.DeletePartialMatch(labels)
		allDownTotal.DeletePartialMatch(labels)
		targetOverride.DeletePartialMatch(labels)
	})
}

// answerCounters caches a pool's answers_total series for one server, so
// that counting an answer costs no label lookup. A handler normally serves
// one server address; another one just replaces the cache.
type answerCounters struct {
	server string
	total  [families][len(answerResults)]prometheus.Counter
}

func (p *pool) countAnswer(server string, fam, result int) {
	c := p.counters.Load()
	if c == nil || c.server != server {
		c = &answerCounters{server: server}
		for fam := range families {
			for i, result := range answerResults {
				c.total[fam][i] = answersTotal.WithLabelValues(server, p.name, familyType[fam], result)
			}
		}
		p.counters.Store(c)
	}
	c.total[fam][result].Inc()
}

// gaugeOf is a yes/no gauge's value: 1 or 0.
func gaugeOf(yes bool) float64 {
	if yes {
		return 1
	}
	return 0
}
