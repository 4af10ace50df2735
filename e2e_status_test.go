package failover_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/internal/loopback"
	"github.com/failover-dns/failover/internal/testpki"
	"github.com/failover-dns/failover/status"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// statusClient reads a status listener's API.
type statusClient struct {
	base  string
	token string
	http  *http.Client
}

func newStatusClient(t *testing.T, token string) (*statusClient, string) {
	t.Helper()
	port, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return &statusClient{base: "http://" + addr, token: token, http: &http.Client{Timeout: 5 * time.Second}}, addr
}

func (c *statusClient) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.http.Do(req)
}

// pools reads /api/v1/status (with a query, if given).
func (c *statusClient) pools(t *testing.T, query string) []status.Pool {
	t.Helper()
	resp, err := c.get("/api/v1/status" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/status%s: %s", query, resp.Status)
	}
	var body struct{ Pools []status.Pool }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Pools
}

func targetOf(p status.Pool, addr string) status.Target {
	for _, t := range p.Targets {
		if t.Address == addr {
			return t
		}
	}
	return status.Target{}
}

// TestStatusAPI: the JSON API shows every pool with its answers and
// targets, follows a backend's death, filters by pool, and requires the
// bearer token.
func TestStatusAPI(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, addr := newStatusClient(t, "s3cret-token")
	corefile := `example.org:0 {
	failover {
		status ` + addr + ` {
			token ` + tokenFile + `
		}
		pool www.example.org web.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2 weight 3
			check http://www.example.org:` + port + `/health
			interval 200ms
			fall 1
		}
		pool api.example.org {
			target 127.0.0.2
			check tcp://api.example.org:` + port + `
		}
	}
}`
	s := startCoreDNS(t, corefile)
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2")

	pools := c.pools(t, "")
	if len(pools) != 2 || pools[0].Name != "www.example.org." || pools[1].Name != "api.example.org." {
		t.Fatalf("Pools %+v, want www and api in configuration order", pools)
	}
	www := pools[0]
	if www.Mode != "healthy" || strings.Join(www.Answers["A"], ",") != "127.0.0.1" || www.Zone != "example.org." || www.Policy != "priority" || www.TTL != 30 {
		t.Errorf("www: %+v", www)
	}
	if tg := targetOf(www, "127.0.0.2"); tg.State != "up" || tg.Priority != 2 || tg.Weight != 3 || tg.LastProbe.IsZero() || tg.Uptime.Hour != 1 || tg.RTT <= 0 {
		t.Errorf("Backup target: %+v", tg)
	}

	bs[0].stop()
	waitFor(t, detectLimit, "the status to show the primary down", func() bool {
		p := c.pools(t, "?pool=web.example.org")
		return len(p) == 1 && targetOf(p[0], "127.0.0.1").State == "down"
	})
	www = c.pools(t, "?pool=www.example.org")[0]
	primary := targetOf(www, "127.0.0.1")
	if www.Mode != "degraded" || strings.Join(www.Answers["A"], ",") != "127.0.0.2" {
		t.Errorf("After the primary died: mode %s, answers %v", www.Mode, www.Answers)
	}
	if f := primary.LastFailure; f == nil || f.Reason != "refused" || !strings.Contains(f.Check, "http://www.example.org:"+port) || f.Detail == "" {
		t.Errorf("The primary's last failure: %+v", f)
	}
	if primary.Transitions != 2 || primary.Since.IsZero() || primary.Uptime.Hour >= 1 {
		t.Errorf("The primary (its first verdict and its death are its transitions): %+v", primary)
	}

	// A reload keeps what the status view knows of kept targets.
	s.restart(t, strings.Replace(corefile, "fall 1", "fall 1\n\t\t\tttl 20", 1))
	kept := targetOf(c.pools(t, "?pool=www.example.org")[0], "127.0.0.1")
	if kept.Transitions != 2 || kept.Uptime.Hour >= 1 || kept.State != "down" {
		t.Errorf("After a reload the primary shows %+v: want its transitions and uptime kept", kept)
	}

	resp, err := c.get("/api/v1/status?pool=nowhere.example.org")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("An unknown pool: %v (%v), want 404", resp.Status, err)
	}
	resp.Body.Close()
	anonymous := &statusClient{base: c.base, http: c.http}
	resp, err = anonymous.get("/api/v1/status")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Without the token: %v (%v), want 401", resp.Status, err)
	}
	resp.Body.Close()
	resp, err = c.http.Post(c.base+"/api/v1/status", "application/json", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v (%v), want 405", resp.Status, err)
	}
	resp.Body.Close()
	if _, err := s.query("udp", "www.example.org.", dns.TypeA); err != nil {
		t.Error(err)
	}
}

// TestStatusListenerSurvivesReloads: two server blocks share one status
// listener; it answers every request through 20 reloads (never a refused
// connection), always shows the newest configuration, and closes with the
// server, leaving no goroutine behind.
func TestStatusListenerSurvivesReloads(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	time.Sleep(50 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()
	c, addr := newStatusClient(t, "")
	corefile := func(i int) string {
		block := func(zone string) string {
			return fmt.Sprintf(`%s:0 {
	failover {
		status %s
		pool www.%s {
			target 127.0.0.1
			check tcp://www.%s:%s
			ttl %d
		}
	}
}
`, zone, addr, zone, zone, port, 10+i)
		}
		return block("example.org") + block("example.net")
	}
	s := startCoreDNS(t, corefile(0))

	var requests, failures atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.get("/api/v1/status")
			requests.Add(1)
			if err != nil {
				failures.Add(1)
				lastErr.Store(err.Error())
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failures.Add(1)
				lastErr.Store(resp.Status)
			}
		}
	})
	for i := 1; i <= 20; i++ {
		s.restart(t, corefile(i))
		pools := c.pools(t, "")
		if len(pools) != 2 || pools[0].TTL != uint32(10+i) || pools[1].ServerBlock != "example.net.:0" && !strings.Contains(pools[1].ServerBlock, "example.net") {
			t.Fatalf("After reload %d the status shows %+v, want both blocks of the newest configuration (ttl %d)", i, pools, 10+i)
		}
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d status requests failed during 20 reloads (last: %v)", n, requests.Load(), lastErr.Load())
	}
	t.Logf("%d status requests during 20 reloads", requests.Load())
	s.stop()
	c.http.CloseIdleConnections()
	if n := status.Running(); n != 0 {
		t.Errorf("%d status listeners open after the stop", n)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("Goroutines left after 20 reloads and a stop:\n%v", err)
	}
}

// eventsAfter reads /api/v1/events?since=ID.
func (c *statusClient) eventsAfter(t *testing.T, since uint64) []events.Event {
	t.Helper()
	resp, err := c.get(fmt.Sprintf("/api/v1/events?since=%d", since))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Events []events.Event
		Last   uint64
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		t.Fatalf("GET /api/v1/events: %s", resp.Status)
	}
	return body.Events
}

// findEvent returns the first event of a type about a pool (and target, if given).
func findEvent(list []events.Event, typ, pool, target string) (events.Event, bool) {
	for _, e := range list {
		if e.Type == typ && e.Pool == pool && (target == "" || e.Target == target) {
			return e, true
		}
	}
	return events.Event{}, false
}

// TestStatusEvents: the event history says what happened and why, and the
// live stream (Server-Sent Events) delivers what happens next, resuming
// after Last-Event-ID.
func TestStatusEvents(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	c, addr := newStatusClient(t, "")
	start := c.lastEventID(t)
	startCoreDNS(t, `events.example:0 {
	failover {
		status `+addr+` {
			max_streams 1
		}
		pool www.events.example {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check tcp://www.events.example:`+port+`
			interval 200ms
			fall 1
		}
	}
}`)
	waitAllUp(t, "www.events.example.", "127.0.0.1", "127.0.0.2")
	loaded := false
	for _, e := range c.eventsAfter(t, start) {
		loaded = loaded || e.Type == events.TypeConfigLoaded && e.Server == "dns://events.example.:0" && strings.Join(e.PoolsAdded, ",") == "www.events.example."
	}
	if !loaded {
		t.Errorf("No config_loaded event adding the pool: %+v", c.eventsAfter(t, start))
	}

	stream, err := c.get(fmt.Sprintf("/api/v1/events/stream?since=%d", c.lastEventID(t)))
	if err != nil || stream.StatusCode != http.StatusOK || stream.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("Event stream: %v (%v)", stream.Status, err)
	}
	defer stream.Body.Close()
	if second, err := c.get("/api/v1/events/stream"); err != nil || second.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("A second stream beyond max_streams 1: %v (%v), want 503", second.Status, err)
	} else {
		second.Body.Close()
	}

	bs[0].stop()
	got := readStream(t, stream, detectLimit, func(e events.Event) bool { return e.Type == events.TypeAnswerChanged })
	down, ok := findEvent(got, events.TypeTargetDown, "www.events.example.", "127.0.0.1")
	if !ok || down.Reason != "refused" || !strings.HasPrefix(down.Check, "tcp://www.events.example:") || down.Detail == "" {
		t.Errorf("Streamed target_down: %+v (of %+v)", down, got)
	}
	changed, _ := findEvent(got, events.TypeAnswerChanged, "www.events.example.", "")
	if changed.Family != "A" || strings.Join(changed.Old, ",") != "127.0.0.1" || strings.Join(changed.New, ",") != "127.0.0.2" {
		t.Errorf("Streamed answer_changed: %+v", changed)
	}
	history := c.eventsAfter(t, start)
	if _, ok := findEvent(history, events.TypeTargetDown, "www.events.example.", "127.0.0.1"); !ok {
		t.Errorf("The history lacks the target_down event: %+v", history)
	}
	for i := 1; i < len(history); i++ {
		if history[i].ID != history[i-1].ID+1 {
			t.Errorf("Event IDs %d then %d: want consecutive", history[i-1].ID, history[i].ID)
		}
	}
}

// lastEventID is the newest event's ID now.
func (c *statusClient) lastEventID(t *testing.T) uint64 {
	t.Helper()
	resp, err := c.get("/api/v1/events?limit=1&since=18446744073709551614")
	if err != nil {
		return 0 // no listener yet: read from the first event of the process
	}
	defer resp.Body.Close()
	var body struct{ Last uint64 }
	json.NewDecoder(resp.Body).Decode(&body)
	return body.Last
}

// readStream reads Server-Sent Events until one satisfies done, failing
// the test after limit.
func readStream(t *testing.T, resp *http.Response, limit time.Duration, done func(events.Event) bool) []events.Event {
	t.Helper()
	type result struct {
		list []events.Event
		err  error
	}
	out := make(chan result, 1)
	go func() {
		var list []events.Event
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e events.Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				out <- result{list, err}
				return
			}
			list = append(list, e)
			if done(e) {
				out <- result{list, nil}
				return
			}
		}
		out <- result{list, fmt.Errorf("the stream ended: %v", sc.Err())}
	}()
	select {
	case r := <-out:
		if r.err != nil {
			t.Fatalf("Event stream: %v after %+v", r.err, r.list)
		}
		return r.list
	case <-time.After(limit):
		resp.Body.Close()
		t.Fatalf("No awaited event on the stream within %s", limit)
		return nil
	}
}

// TestStatusPageServed: the page is served without the token (it holds no
// data), from embedded files only, under a content security policy that
// allows nothing but its own files and API; its script writes server
// strings as text only.
func TestStatusPageServed(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("page-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, addr := newStatusClient(t, "")
	startCoreDNS(t, `example.org:0 {
	failover {
		status `+addr+` {
			token `+tokenFile+`
		}
		pool www.example.org {
			target 127.0.0.1
			check tcp://www.example.org:`+port+`
		}
	}
}`)
	for _, tc := range []struct{ path, ctype string }{
		{"/", "text/html"}, {"/app.js", "text/javascript"}, {"/style.css", "text/css"},
	} {
		resp, err := c.get(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %s, %s", tc.path, resp.Status, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: content security policy %q", tc.path, csp)
		}
		for _, external := range []string{"http://", "https://", "//cdn", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"} {
			if strings.Contains(string(body), external) {
				t.Errorf("GET %s: the page uses %q: it must be self-contained and write server strings as text", tc.path, external)
			}
		}
	}
	if resp, err := c.get("/api/v1/status"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("The API without the token: %v (%v), want 401", resp.Status, err)
	}
}

// TestStatusOverTLS: with 'tls CERT KEY' the listener speaks HTTPS only.
func TestStatusOverTLS(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	ca := testpki.NewCA(t)
	certFile, keyFile := testpki.Files(t, ca.Server(t, "status.example.org", "127.0.0.1"))
	c, addr := newStatusClient(t, "")
	startCoreDNS(t, `example.org:0 {
	failover {
		status `+addr+` {
			tls `+certFile+` `+keyFile+`
		}
		pool www.example.org {
			target 127.0.0.1
			check tcp://www.example.org:`+port+`
		}
	}
}`)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	c.base = "https://" + addr
	c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "status.example.org"}}
	if pools := c.pools(t, ""); len(pools) != 1 {
		t.Errorf("Over HTTPS: %d pools, want 1", len(pools))
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + addr + "/api/v1/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("Plain HTTP was answered by a listener configured for TLS")
		}
	}
}
