package notify

import (
	"bytes"
	"encoding/json"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/internal/logtest"
	"github.com/failover-dns/failover/internal/wait"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func init() { clog.Discard() }

// fastBackoff keeps the retries of tests short.
const fastBackoff = time.Millisecond

// request is what the receiver got.
type request struct {
	header http.Header
	body   []byte
	query  string
}

// receiver is a real HTTP server on 127.0.0.1 that records the webhooks it
// gets and answers with the status its reply function gives (200 if nil).
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	got   []request
	reply func(n int) int // n counts requests from 1
}

func newReceiver(t *testing.T, reply func(n int) int) *receiver {
	t.Helper()
	r := &receiver{reply: reply}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{header: req.Header.Clone(), body: body, query: req.URL.RawQuery})
		n := len(r.got)
		r.mu.Unlock()
		code := http.StatusOK
		if r.reply != nil {
			code = r.reply(n)
		}
		w.WriteHeader(code)
		w.Write([]byte("a body nobody needs\n"))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// waitFor polls cond every 5 ms until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	wait.For(t, limit, 5*time.Millisecond, what, cond)
}

func counted(n *Notifier, result string) float64 {
	return testutil.ToFloat64(notificationsTotal.WithLabelValues(n.label, result))
}

// start makes and starts a notifier on a new Log, stopped when the test ends.
func start(t *testing.T, cfg Config) (*Notifier, *events.Log) {
	t.Helper()
	if cfg.Backoff == 0 {
		cfg.Backoff = fastBackoff
	}
	l := events.NewLog(100, nil)
	n := New(cfg)
	n.Start(l)
	t.Cleanup(n.Stop)
	return n, l
}

var downEvent = events.Event{Type: events.TypeTargetDown, Pool: "www.example.org.", Target: "192.0.2.10",
	Check: "tcp://www.example.org:80", Reason: "refused", Detail: "dial tcp: connect: connection refused"}

func TestJSONBody(t *testing.T) {
	r := newReceiver(t, nil)
	n, l := start(t, Config{URL: r.srv.URL + "/hook"})
	stored := l.Append(downEvent)
	waitFor(t, 5*time.Second, "the webhook", func() bool { return len(r.requests()) == 1 })
	got := r.requests()[0]
	want, _ := json.Marshal(stored)
	if !bytes.Equal(got.body, want) {
		t.Errorf("Body %s, want %s", got.body, want)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	waitFor(t, 5*time.Second, "the delivery to count", func() bool { return counted(n, resultDelivered) == 1 })
}

func TestSlackBody(t *testing.T) {
	r := newReceiver(t, nil)
	_, l := start(t, Config{URL: r.srv.URL + "/slack", Format: FormatSlack})
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "the webhook", func() bool { return len(r.requests()) == 1 })
	want := `{"text":"www.example.org.: target 192.0.2.10 is down (refused: dial tcp: connect: connection refused)"}`
	if got := string(r.requests()[0].body); got != want {
		t.Errorf("Body %s, want %s", got, want)
	}
}

// TestSlackBodyEscapesMarkup: what a target sent (an HTTP body quoted in a
// detail, say) reaches the channel as text, never as a mention or a link.
func TestSlackBodyEscapesMarkup(t *testing.T) {
	r := newReceiver(t, nil)
	_, l := start(t, Config{URL: r.srv.URL + "/slack", Format: FormatSlack})
	e := downEvent
	e.Detail = `status 503: <!channel> <https://example.net/login|sign in> & more`
	l.Append(e)
	waitFor(t, 5*time.Second, "the webhook", func() bool { return len(r.requests()) == 1 })
	var got struct{ Text string }
	if err := json.Unmarshal(r.requests()[0].body, &got); err != nil {
		t.Fatal(err)
	}
	want := "www.example.org.: target 192.0.2.10 is down (refused: status 503: &lt;!channel&gt; &lt;https://example.net/login|sign in&gt; &amp; more)"
	if got.Text != want {
		t.Errorf("Text %q, want %q", got.Text, want)
	}
}

func TestEventsFilter(t *testing.T) {
	r := newReceiver(t, nil)
	_, l := start(t, Config{URL: r.srv.URL, Events: []string{events.TypeTargetDown, events.TypeTargetUp}})
	l.Append(events.Event{Type: events.TypeAnswerChanged, Pool: "www.example.org.", Family: "A"})
	l.Append(events.Event{Type: events.TypeTargetUp, Pool: "www.example.org.", Target: "192.0.2.10"})
	l.Append(events.Event{Type: events.TypeConfigLoaded, Server: "dns://example.org.:53"})
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "two webhooks", func() bool { return len(r.requests()) == 2 })
	time.Sleep(50 * time.Millisecond)
	var types []string
	for _, req := range r.requests() {
		var e events.Event
		json.Unmarshal(req.body, &e)
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "target_up,target_down" {
		t.Errorf("Delivered %v, want target_up then target_down only", types)
	}
}

// TestNotifiedElsewhere: an event another fleet member notifies is
// recorded here but not sent; the next one, this replica's, is.
func TestNotifiedElsewhere(t *testing.T) {
	r := newReceiver(t, nil)
	_, l := start(t, Config{URL: r.srv.URL})
	l.Append(events.Event{Type: events.TypeTargetUp, Pool: "www.example.org.", Target: "192.0.2.10", NotifiedBy: "coredns-1"})
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "one webhook", func() bool { return len(r.requests()) >= 1 })
	time.Sleep(50 * time.Millisecond)
	if got := r.requests(); len(got) != 1 || !strings.Contains(string(got[0].body), `"target_down"`) {
		t.Errorf("Delivered %d requests, want only target_down (the other is coredns-1's to send)", len(got))
	}
}

// Headers are sent; neither their values nor the URL's secrets are logged.
func TestHeadersSentNotLogged(t *testing.T) {
	logged := logtest.Capture(t)
	r := newReceiver(t, func(int) int { return http.StatusForbidden })
	u := strings.Replace(r.srv.URL, "http://", "http://user:pa55word@", 1) + "/hook?key=qu3ry-secret"
	n, l := start(t, Config{URL: u, Headers: []Header{{"Authorization", "Bearer s3cret-token"}, {"X-Team", "dns"}}})
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "the failure to count", func() bool { return counted(n, resultFailed) == 1 })
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1: a 403 is not retried", len(reqs))
	}
	h := reqs[0].header
	if h.Get("Authorization") != "Bearer s3cret-token" || h.Get("X-Team") != "dns" || reqs[0].query != "key=qu3ry-secret" {
		t.Errorf("Request headers %v, query %q", h, reqs[0].query)
	}
	out := logged.String()
	for _, secret := range []string{"s3cret-token", "pa55word", "qu3ry-secret", "user"} {
		if strings.Contains(out, secret) {
			t.Errorf("The log holds the secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, n.Label()+" failed after 1 attempts: status 403") || n.Label() != r.srv.URL+"/(path 6fc2d051)" {
		t.Errorf("The log does not name %s and the status:\n%s", n.Label(), out)
	}
}

func TestRetriedThenDelivered(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusTooManyRequests} {
		r := newReceiver(t, func(n int) int {
			if n < 3 {
				return code
			}
			return http.StatusNoContent
		})
		n, l := start(t, Config{URL: r.srv.URL})
		l.Append(downEvent)
		waitFor(t, 5*time.Second, "the delivery", func() bool { return counted(n, resultDelivered) == 1 })
		if got := len(r.requests()); got != 3 || counted(n, resultFailed) != 0 {
			t.Errorf("Status %d twice: %d requests, %v failed; want 3 requests and none failed", code, got, counted(n, resultFailed))
		}
	}
}

func TestNotRetried(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusFound} {
		r := newReceiver(t, func(int) int { return code })
		n, l := start(t, Config{URL: r.srv.URL})
		l.Append(downEvent)
		waitFor(t, 5*time.Second, "the failure", func() bool { return counted(n, resultFailed) == 1 })
		time.Sleep(20 * time.Millisecond)
		if got := len(r.requests()); got != 1 {
			t.Errorf("Status %d: %d requests, want 1", code, got)
		}
	}
}

// A redirect is never followed: its status is the answer.
func TestRedirectNotFollowed(t *testing.T) {
	target := newReceiver(t, nil)
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	n, l := start(t, Config{URL: redirect.URL})
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "the failure", func() bool { return counted(n, resultFailed) == 1 })
	if len(target.requests()) != 0 {
		t.Errorf("The redirect was followed")
	}
}

func TestReceiverDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n, l := start(t, Config{URL: "http://" + addr + "/hook"})
	l.Append(downEvent)
	l.Append(downEvent)
	waitFor(t, 10*time.Second, "two failures", func() bool { return counted(n, resultFailed) == 2 })
	if counted(n, resultDelivered) != 0 {
		t.Errorf("Delivered to nobody")
	}
}

// A receiver that never answers delays neither Append nor the Log's other
// readers; the queue fills and drops.
func TestSlowReceiverNeverDelaysAppend(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	n, l := start(t, Config{URL: slow.URL, Queue: 10, Timeout: time.Minute})
	begin := time.Now()
	for range 20_000 {
		l.Append(downEvent)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("20,000 appends took %s with a stuck webhook", d)
	}
	waitFor(t, 5*time.Second, "the queue to fill", func() bool { return n.QueueLen() == 10 })
	if counted(n, resultDropped) == 0 {
		t.Errorf("Nothing counted dropped")
	}
}

// A full queue drops its oldest event, and counts it.
func TestFullQueueDropsOldest(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var ids []uint64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e events.Event
		json.NewDecoder(r.Body).Decode(&e)
		mu.Lock()
		ids = append(ids, e.ID)
		first := len(ids) == 1
		mu.Unlock()
		if first {
			<-release
		}
	}))
	defer srv.Close()
	n, l := start(t, Config{URL: srv.URL, Queue: 3})
	l.Append(downEvent) // 1: in flight, held by the receiver
	waitFor(t, 5*time.Second, "the first request", func() bool { mu.Lock(); defer mu.Unlock(); return len(ids) == 1 })
	for range 5 { // 2..6: 2 and 3 are dropped
		l.Append(downEvent)
	}
	waitFor(t, 5*time.Second, "two drops", func() bool { return counted(n, resultDropped) == 2 })
	if got := testutil.ToFloat64(queueLength.WithLabelValues(n.label)); got != 3 {
		t.Errorf("Queue length gauge %v, want 3", got)
	}
	close(release)
	waitFor(t, 5*time.Second, "the deliveries", func() bool { return counted(n, resultDelivered) == 4 })
	mu.Lock()
	defer mu.Unlock()
	if want := []uint64{1, 4, 5, 6}; !equalIDs(ids, want) {
		t.Errorf("Delivered events %v, want %v", ids, want)
	}
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Stop abandons a request in flight and the retries, promptly, and leaves
// no goroutine behind.
func TestStopLeavesNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	l := events.NewLog(10, nil)
	inFlight := New(Config{URL: srv.URL, Timeout: time.Minute})
	retrying := New(Config{URL: failing.URL, Backoff: time.Hour})
	inFlight.Start(l)
	retrying.Start(l)
	l.Append(downEvent)
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "a retry to wait", func() bool { return inFlight.QueueLen() == 1 && retrying.QueueLen() == 1 })
	begin := time.Now()
	inFlight.Stop()
	retrying.Stop()
	retrying.Stop() // twice is fine
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Stop took %s", d)
	}
	if counted(inFlight, resultDropped) != 2 || counted(retrying, resultDropped) != 2 {
		t.Errorf("Dropped %v and %v, want 2 each (one abandoned, one queued)", counted(inFlight, resultDropped), counted(retrying, resultDropped))
	}
	close(stuck)
	srv.Close()
	failing.Close()
	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
}

func TestRegistryShares(t *testing.T) {
	r := newReceiver(t, nil)
	l := events.NewLog(10, nil)
	before := Running()
	cfg := Config{URL: r.srv.URL + "/shared", Backoff: fastBackoff}
	a, b := Acquire(cfg, l), Acquire(cfg, l)
	other := Acquire(Config{URL: r.srv.URL + "/shared", Format: FormatSlack}, l)
	if a.Notifier() != b.Notifier() || a.Notifier() == other.Notifier() || Running() != before+2 {
		t.Fatalf("The same configuration must share one notifier, another get its own")
	}
	other.Release()
	a.Release()
	a.Release() // twice is fine
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "the webhook", func() bool { return len(r.requests()) == 1 })
	b.Release()
	if Running() != before {
		t.Errorf("%d notifiers run after the last release, want %d", Running(), before)
	}
	if queueLength.DeleteLabelValues(a.Notifier().label) {
		t.Errorf("The queue gauge of %s outlives its notifiers", a.Notifier().label)
	}
}

func TestValidation(t *testing.T) {
	for _, u := range []string{"http://example.org/hook", "https://user:pw@example.org:8443/x?token=1"} {
		if err := ValidURL(u); err != nil {
			t.Errorf("ValidURL(%s): %v", u, err)
		}
	}
	for _, u := range []string{"ftp://example.org/", "example.org/hook", "http:///hook", "http://%zz"} {
		if err := ValidURL(u); err == nil {
			t.Errorf("ValidURL(%s) accepted it", u)
		}
	}
	if got := Redact("https://user:pw@example.org:8443/a%20b?token=1#x"); got != "https://example.org:8443/(path 395e4198)" {
		t.Errorf("Redact: %s", got)
	}
	if ValidHeader("Authorization", "Bearer x") != nil || ValidHeader("Bad Name", "x") == nil || ValidHeader("X", "a\nb") == nil || ValidHeader("Host", "x") == nil {
		t.Errorf("ValidHeader accepts or refuses the wrong headers")
	}
}

// The metrics pass promlint.
func TestMetricsLint(t *testing.T) {
	r := newReceiver(t, nil)
	n, l := start(t, Config{URL: r.srv.URL + "/lint"})
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "the delivery", func() bool { return counted(n, resultDelivered) == 1 })
	problems, err := testutil.GatherAndLint(prometheus.DefaultGatherer,
		"coredns_failover_notifications_total", "coredns_failover_notification_queue_length")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// An https webhook's certificate is verified: one from an unknown
// authority fails at once, without a retry.
func TestTLSVerified(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Errorf("A request reached a server whose certificate does not verify")
	}))
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the handshake errors
	srv.StartTLS()
	defer srv.Close()
	// With an hour's backoff, a retry would keep it from failing in time.
	n, l := start(t, Config{URL: srv.URL + "/hook", Backoff: time.Hour})
	l.Append(downEvent)
	waitFor(t, 5*time.Second, "the failure", func() bool { return counted(n, resultFailed) == 1 })
}
