package notify

import (
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Results of a notification.
const (
	resultDelivered = "delivered"
	resultFailed    = "failed"
	resultDropped   = "dropped"
)

var (
	notificationsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "notifications_total",
		Help:      "Counter of notifications by webhook (scheme://host/path) and result: delivered, failed (after retries, or refused), dropped (queue full, or still queued when the notifier stopped).",
	}, []string{"url", "result"})
	queueLength = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "failover",
		Name:      "notification_queue_length",
		Help:      "Gauge of the events waiting in the queue of a webhook (scheme://host/path), not counting the one being sent.",
	}, []string{"url"})
)
