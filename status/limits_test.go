package status

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/internal/wait"
)

// bigSource shows many pools, so that /api/v1/status answers with more
// bytes than the kernel's socket buffers hold.
type bigSource struct {
	fakeSource
	pools []Pool
}

func (b bigSource) Pools(string) []Pool { return b.pools }

func manyPools(n int) []Pool {
	pools := make([]Pool, n)
	for i := range pools {
		name := fmt.Sprintf("pool-%05d.%s.example.org.", i, strings.Repeat("x", 200))
		pools[i] = Pool{Name: name, Names: []string{name}, Mode: "healthy", Answers: map[string][]string{"A": {"192.0.2.1", "192.0.2.2"}},
			Targets: []Target{{Address: "192.0.2.1", State: "up"}, {Address: "192.0.2.2", State: "up"}}}
	}
	return pools
}

func acquire(t *testing.T, cfg Config, src Source) *Lease {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	l, err := Acquire(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	return l
}

// dialSmallWindow connects with a receive buffer of a few KB, so that the
// server's writes block soon when the client does not read.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestClientThatNeverReadsIsDropped: a client that asks for a large
// response and never reads it loses its connection once the write timeout
// passes, instead of holding the connection and the response forever.
func TestClientThatNeverReadsIsDropped(t *testing.T) {
	l := acquire(t, Config{WriteTimeout: 300 * time.Millisecond}, bigSource{fakeSource{events.NewLog(10, nil)}, manyPools(10000)})
	c := dialSmallWindow(t, l.Addr().String())
	if _, err := io.WriteString(c, "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The first byte (or the end, if the server gave up already) shows
	// that the connection was accepted and served; then the client stops
	// reading.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); isTimeout(err) {
		t.Fatal("No response within 10s")
	}
	wait.For(t, 10*time.Second, 20*time.Millisecond, "the server to close a connection whose client never reads", func() bool {
		return l.s.conns.open() == 0
	})
}

func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// TestConnectionCap: connections beyond the cap are closed at once; when
// one ends, a new one is served again.
func TestConnectionCap(t *testing.T) {
	l := acquire(t, Config{MaxConns: 3}, fakeSource{events.NewLog(10, nil)})
	addr := l.Addr().String()
	var idle []net.Conn
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	wait.For(t, 5*time.Second, 10*time.Millisecond, "3 connections accepted", func() bool { return l.s.conns.open() == 3 })
	over, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	io.WriteString(over, "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("A connection beyond the cap of 3 was answered: %s", resp.Status)
	}
	if isTimeout(err) {
		t.Fatalf("A connection beyond the cap of 3 was neither answered nor closed within 5s")
	}
	idle[0].Close()
	client := &http.Client{Timeout: 5 * time.Second}
	wait.For(t, 5*time.Second, 20*time.Millisecond, "a request served once a connection ended", func() bool {
		resp, err := client.Get("http://" + addr + "/api/v1/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func openStream(t *testing.T, c *http.Client, addr string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/events/stream", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestStreamSlotsPerClient: one client address cannot take every event
// stream slot: beyond a quarter of max_streams it gets 503, while another
// address still gets a stream.
func TestStreamSlotsPerClient(t *testing.T) {
	l := acquire(t, Config{MaxStreams: 8}, fakeSource{events.NewLog(10, nil)})
	addr := l.Addr().String()
	greedy := clientFrom("127.0.0.1")
	for i := range 2 {
		if resp := openStream(t, greedy, addr); resp.StatusCode != http.StatusOK {
			t.Fatalf("Stream %d of one client: %s, want 200", i+1, resp.Status)
		}
	}
	resp := openStream(t, greedy, addr)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "this client") {
		t.Errorf("A third stream of one client with max_streams 8: %s %s, want 503 saying this client holds its share", resp.Status, body)
	}
	if resp := openStream(t, clientFrom("127.0.0.2"), addr); resp.StatusCode != http.StatusOK {
		t.Errorf("A stream of another client: %s, want 200", resp.Status)
	}
}

// TestIdleStreamEnds: a stream whose client never reads ends after the
// stream lifetime, freeing its slot.
func TestIdleStreamEnds(t *testing.T) {
	l := acquire(t, Config{StreamLifetime: 300 * time.Millisecond}, fakeSource{events.NewLog(10, nil)})
	c := dialSmallWindow(t, l.Addr().String())
	if _, err := io.WriteString(c, "GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, 10*time.Millisecond, "the stream to open", func() bool { return l.s.streams.total() == 1 })
	wait.For(t, 10*time.Second, 20*time.Millisecond, "an idle stream to end", func() bool { return l.s.streams.total() == 0 })
}

// TestEventsPaged: /api/v1/events returns at most DefaultEventsLimit events
// and at most maxEventsPageBytes of them (plus one), however high the
// limit, without indentation; paging on with since= gets the rest.
func TestEventsPaged(t *testing.T) {
	log := events.NewLog(events.DefaultCapacity, nil)
	wide := make([]string, 200)
	for i := range wide {
		wide[i] = fmt.Sprintf("198.51.100.%d", i)
	}
	for range 400 { // 6 KB each: more than maxEventsPageBytes in all
		log.Append(events.Event{Type: events.TypeAnswerChanged, Pool: "www.example.org.", Family: "A", Old: wide, New: wide[1:]})
	}
	for range 2 * DefaultEventsLimit { // at least one page of small events only
		log.Append(events.Event{Type: events.TypeTargetUp, Pool: "www.example.org.", Target: "192.0.2.1"})
	}
	l := acquire(t, Config{}, fakeSource{log})
	base := "http://" + l.Addr().String() + "/api/v1/events?limit=100000&since="
	client := &http.Client{Timeout: 10 * time.Second}
	var since uint64
	pages, wideEvents, smallEvents := 0, 0, 0 // the most of each kind in one page
	for since < log.Last() && pages < 100 {
		pages++
		resp, err := client.Get(base + strconv.FormatUint(since, 10))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("Page %d: %s, %v", pages, resp.Status, err)
		}
		var body struct {
			Events []events.Event
			Last   uint64
		}
		if err := json.Unmarshal(raw, &body); err != nil || len(body.Events) == 0 {
			t.Fatalf("Page %d: %d events, %v", pages, len(body.Events), err)
		}
		if len(raw) > maxEventsPageBytes+8<<10 {
			t.Errorf("Page %d: %d bytes, want at most %d and one event", pages, len(raw), maxEventsPageBytes)
		}
		if len(body.Events) > DefaultEventsLimit {
			t.Errorf("Page %d: %d events for limit=100000, want at most %d", pages, len(body.Events), DefaultEventsLimit)
		}
		if strings.Contains(string(raw), "\n ") {
			t.Errorf("Page %d is indented", pages)
		}
		for i, e := range body.Events {
			if e.ID != since+uint64(i)+1 {
				t.Fatalf("Page %d: event %d has ID %d, want %d", pages, i, e.ID, since+uint64(i)+1)
			}
		}
		wide := 0
		for _, e := range body.Events {
			if e.Type == events.TypeAnswerChanged {
				wide++
			}
		}
		wideEvents = max(wideEvents, wide)
		if wide == 0 {
			smallEvents = max(smallEvents, len(body.Events))
		}
		since = body.Events[len(body.Events)-1].ID
	}
	if since != log.Last() {
		t.Errorf("Paging on reached event %d of %d in %d pages", since, log.Last(), pages)
	}
	if wideEvents >= DefaultEventsLimit {
		t.Errorf("A page held %d events of 6 KB: the byte bound did not apply", wideEvents)
	}
	if smallEvents != DefaultEventsLimit {
		t.Errorf("A page of small events held at most %d, want the cap %d", smallEvents, DefaultEventsLimit)
	}
}

// TestRebindingHostRefused: without a token, a request addressed to a
// name other than localhost or the listener's own host (as a page reached
// through DNS rebinding sends) gets 421; IP literals and localhost are
// served; with a token any name is.
func TestRebindingHostRefused(t *testing.T) {
	src := fakeSource{events.NewLog(10, nil)}
	open := acquire(t, Config{}, src)
	withToken := acquire(t, Config{Addr: "127.0.0.2:0", Token: "s3cret"}, src) // another address: leases of one address share its listener
	port := strconv.Itoa(open.Addr().(*net.TCPAddr).Port)
	get := func(l *Lease, host, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+l.Addr().String()+"/api/v1/status", nil)
		req.Host = host
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, host := range []string{"rebind.example.com:" + port, "rebind.example.com", "127.0.0.1.example.com:" + port} {
		if code, body := get(open, host, ""); code != http.StatusMisdirectedRequest || !strings.Contains(body, "rebinding") {
			t.Errorf("Host %s without a token: %d %s, want 421 naming DNS rebinding", host, code, body)
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "127.0.0.1", "localhost:" + port, "LocalHost", "[::1]:" + port, "[::1]"} {
		if code, body := get(open, host, ""); code != http.StatusOK {
			t.Errorf("Host %s without a token: %d %s, want 200", host, code, body)
		}
	}
	if code, body := get(withToken, "status.example.net:"+port, "s3cret"); code != http.StatusOK {
		t.Errorf("Host status.example.net with the token: %d %s, want 200", code, body)
	}
}

func TestHostAllowed(t *testing.T) {
	for _, tc := range []struct {
		host, listen string
		want         bool
	}{
		{"192.0.2.1:9155", "", true},
		{"[2001:db8::1]:9155", "", true},
		{"localhost", "", true},
		{"status.example.org:9155", "status.example.org", true},
		{"STATUS.example.org", "status.example.org", true},
		{"status.example.org", "", false},
		{"evil.example.com:9155", "status.example.org", false},
		{"", "", false},
		{"localhost.example.com", "", false},
	} {
		if got := hostAllowed(tc.host, tc.listen); got != tc.want {
			t.Errorf("hostAllowed(%q, %q) = %v, want %v", tc.host, tc.listen, got, tc.want)
		}
	}
}

// TestConfigConflict names the first listener property two configurations
// of one address give differently.
func TestConfigConflict(t *testing.T) {
	base := Config{Addr: "127.0.0.1:9155", Token: "a", MaxStreams: 4}
	for _, tc := range []struct {
		other Config
		want  string
	}{
		{base, ""},
		{Config{Addr: "127.0.0.1:9155", MaxStreams: 4}, "token"},
		{Config{Addr: "127.0.0.1:9155", Token: "a"}, "max_streams"},
	} {
		if got := base.Conflict(tc.other); got != tc.want {
			t.Errorf("Conflict(%+v) = %q, want %q", tc.other, got, tc.want)
		}
	}
}
