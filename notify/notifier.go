package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/failover-dns/failover/events"
)

var log = clog.NewWithPlugin("failover")

// Notifier delivers the events of one Log to one webhook. Make it with New,
// then Start and Stop it once each.
type Notifier struct {
	cfg    Config
	label  string // the redacted URL: logs, errors, metric labels
	client *http.Client

	sub    *events.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   sync.Once

	mu    sync.Mutex
	queue []events.Event // oldest first, at most cfg.Queue
	wake  chan struct{}  // has a token while the queue may hold events
}

// New returns a Notifier for cfg, which must have a valid URL (ValidURL).
func New(cfg Config) *Notifier {
	cfg = cfg.withDefaults()
	transport := &http.Transport{
		// No proxy from the environment, as the checks: a webhook is reached
		// directly. Certificates are verified with the system roots.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   cfg.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	return &Notifier{
		cfg:   cfg,
		label: Redact(cfg.URL),
		client: &http.Client{
			Transport: transport,
			Timeout:   cfg.Timeout,
			// Never follow a redirect: its 3xx status is the answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		wake: make(chan struct{}, 1),
	}
}

// Label returns the webhook's URL as logs and metrics name it: scheme://host/path.
func (n *Notifier) Label() string { return n.label }

// Start subscribes to log and starts delivering the events appended from
// now on. Neither Start nor the subscription ever waits for the webhook.
func (n *Notifier) Start(log *events.Log) {
	n.sub = log.Subscribe(subscriptionBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	queueLength.WithLabelValues(n.label).Set(0)
	n.wg.Go(n.move)
	n.wg.Go(func() { n.send(ctx) })
}

// Stop ends the subscription, abandons a delivery in flight (and its
// retries), and returns once the Notifier's goroutines have ended. The
// events still queued are counted dropped. It may be called more than once.
func (n *Notifier) Stop() {
	n.stop.Do(func() {
		if n.sub == nil {
			return // never started
		}
		n.sub.Close()
		n.cancel()
		n.wg.Wait()
		n.mu.Lock()
		left := len(n.queue)
		n.queue = nil
		queueLength.WithLabelValues(n.label).Set(0)
		n.mu.Unlock()
		n.count(resultDropped, left)
		n.client.CloseIdleConnections()
	})
}

// move hands the subscription's events of the selected types to the queue,
// until the subscription is closed.
func (n *Notifier) move() {
	var lost uint64
	for e := range n.sub.C() {
		if d := n.sub.Dropped(); d > lost {
			// The subscription overflowed: events of any type were lost.
			n.count(resultDropped, int(d-lost))
			lost = d
		}
		if e.NotifiedBy != "" {
			continue // another member of the fleet notifies it
		}
		if len(n.cfg.Events) == 0 || slices.Contains(n.cfg.Events, e.Type) {
			n.push(e)
		}
	}
}

// push queues e, dropping the oldest event if the queue is full.
func (n *Notifier) push(e events.Event) {
	n.mu.Lock()
	dropped := len(n.queue) >= n.cfg.Queue
	if dropped {
		n.queue[0] = events.Event{} // let the dropped event's slices go
		n.queue = n.queue[1:]
	}
	n.queue = append(n.queue, e)
	queueLength.WithLabelValues(n.label).Set(float64(len(n.queue)))
	n.mu.Unlock()
	if dropped {
		n.count(resultDropped, 1)
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest queued event, waiting for one until ctx ends.
func (n *Notifier) pop(ctx context.Context) (events.Event, bool) {
	for {
		n.mu.Lock()
		if len(n.queue) > 0 {
			e := n.queue[0]
			n.queue[0] = events.Event{}
			n.queue = n.queue[1:]
			queueLength.WithLabelValues(n.label).Set(float64(len(n.queue)))
			n.mu.Unlock()
			return e, true
		}
		n.mu.Unlock()
		select {
		case <-n.wake:
		case <-ctx.Done():
			return events.Event{}, false
		}
	}
}

// QueueLen returns how many events wait for delivery.
func (n *Notifier) QueueLen() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queue)
}

// send delivers the queued events one by one until ctx ends.
func (n *Notifier) send(ctx context.Context) {
	for {
		e, ok := n.pop(ctx)
		if !ok {
			return
		}
		n.deliver(ctx, e)
	}
}

// deliver posts one event, retrying with exponential backoff, and counts
// the result.
func (n *Notifier) deliver(ctx context.Context, e events.Event) {
	body, err := n.body(e)
	if err != nil {
		log.Errorf("Notification of event %d to %s: %v", e.ID, n.label, err)
		n.count(resultFailed, 1)
		return
	}
	wait := n.cfg.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := n.post(ctx, body)
		switch {
		case err == nil:
			n.count(resultDelivered, 1)
			return
		case ctx.Err() != nil:
			n.count(resultDropped, 1) // abandoned: the notifier stopped
			return
		case !retry || attempt > Retries:
			log.Warningf("Notification of event %d (%s) to %s failed after %d attempts: %v", e.ID, e.Type, n.label, attempt, err)
			n.count(resultFailed, 1)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			n.count(resultDropped, 1)
			return
		}
		wait *= 2
	}
}

// body encodes the event in the configured format.
func (n *Notifier) body(e events.Event) ([]byte, error) {
	if n.cfg.Format == FormatSlack {
		return json.Marshal(struct {
			Text string `json:"text"`
		}{slackEscape(Summary(e))})
	}
	return json.Marshal(e)
}

// post makes one attempt. It reports whether a failure is worth retrying:
// a network error (but a certificate that does not verify), a 5xx or a 429;
// any other non-2xx status is final.
// Its errors never hold the URL's secrets or the headers.
func (n *Notifier) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("the request could not be made")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "coredns-failover")
	for _, h := range n.cfg.Headers {
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		// A *url.Error repeats the whole URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// A certificate that does not verify will not on the next attempt.
		var ce *tls.CertificateVerificationError
		return !errors.As(err, &ce), err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return false, nil
	case code >= 500 || code == http.StatusTooManyRequests:
		return true, fmt.Errorf("status %d", code)
	default:
		return false, fmt.Errorf("status %d (not retried)", code)
	}
}

func (n *Notifier) count(result string, k int) {
	if k > 0 {
		notificationsTotal.WithLabelValues(n.label, result).Add(float64(k))
	}
}
