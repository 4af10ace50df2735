package e2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/failover-dns/failover/e2e/browsertest"
	"github.com/failover-dns/failover/internal/loopback"

	"github.com/chromedp/chromedp"
)

// backend is an HTTP server the test can stop.
func backend(t *testing.T, addr string) *http.Server { return delayedBackend(t, addr, 0) }

// delayedBackend answers after delay.
func delayedBackend(t *testing.T, addr string, delay time.Duration) *http.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(delay)
		w.Write([]byte("ok"))
	}), ReadHeaderTimeout: time.Minute}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestStatusPageInBrowser loads the status page in a real browser: it shows
// the pool and its targets, changes a target's state live when its backend
// dies (no reload), and shows a hostile string from the configuration as
// text. It saves a screenshot (to FAILOVER_SCREENSHOT when set, which
// 'make screenshot' uses for the README's image).
func TestStatusPageInBrowser(t *testing.T) {
	ctx := browsertest.Context(t)
	ports, err := loopback.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	httpPort, statusPort := strconv.Itoa(ports[0]), strconv.Itoa(ports[1])
	primary := backend(t, "127.0.0.1:"+httpPort)
	backend(t, "127.0.0.2:"+httpPort)
	backend(t, "127.0.0.3:"+httpPort)
	delayedBackend(t, "127.0.0.4:"+httpPort, 60*time.Millisecond)
	backend(t, "127.0.0.5:"+httpPort)
	overrides := filepath.Join(t.TempDir(), "overrides") // none yet
	hostile := `<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>`
	inst, err := test.CoreDNSServer(`example.org:0 {
	failover {
		status 127.0.0.1:` + statusPort + `
		overrides ` + overrides + ` 100ms
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			target 127.0.0.3 priority 3
			check http://www.example.org:` + httpPort + `/health
			interval 300ms
			fall 1
		}
		pool slow.example.org {
			target 127.0.0.4
			target 127.0.0.5
			check http://slow.example.org:` + httpPort + `/
			interval 300ms
			timeout 250ms
			slow_rtt 30ms
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.ShutdownCallbacks(); inst.Stop() })

	url := "http://127.0.0.1:" + statusPort + "/"
	row := `article[data-pool="www.example.org."] tr[data-target="127.0.0.1"] .state`
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(row))); err != nil {
		t.Fatalf("The page never showed the pool: %v", err)
	}
	browsertest.WaitTrue(ctx, t, `document.querySelector('`+row+`').textContent === "up"`, "the primary up")
	// An operator drains a target, giving a hostile reason: its event
	// arrives on the page's live stream.
	if err := os.WriteFile(overrides, []byte("www.example.org 127.0.0.3 drain "+hostile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	primary.Close()
	browsertest.WaitTrue(ctx, t, `document.querySelector('`+row+`').textContent === "down"`, "the primary down without a reload")
	browsertest.WaitTrue(ctx, t, `document.getElementById("events").textContent.includes("override applied")`, "the override event on the live stream")
	slowRow := `article[data-pool="slow.example.org."] tr[data-target="127.0.0.4"]`
	browsertest.WaitTrue(ctx, t, `document.querySelector('`+slowRow+` .tag.slow') !== null`, "the slow target tagged slow")
	if steering := browsertest.Text(ctx, t, slowRow+" .steering"); !strings.Contains(steering, "over slow_rtt 30ms") {
		t.Errorf("The slow target's row says %q, want why it is slow", steering)
	}
	browsertest.WaitTrue(ctx, t, `document.getElementById("events").textContent.includes("slow started")`, "the slow_started event")
	events := browsertest.Text(ctx, t, "#events")
	answers := browsertest.Text(ctx, t, `article[data-pool="www.example.org."] .answers`)
	if pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned === 1`)); err != nil || pwned {
		t.Errorf("A string from the configuration ran as script on the page (%v)", err)
	}
	if !strings.Contains(events, "<script>window.pwned=1</script>") {
		t.Errorf("The hostile override reason is not shown as text in the events: %q", events)
	}
	if !strings.Contains(events, "target down") || !strings.Contains(answers, "127.0.0.2") {
		t.Errorf("After the primary died: events %q, answers %q", events, answers)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	file := os.Getenv("FAILOVER_SCREENSHOT")
	if file == "" {
		file = filepath.Join(t.TempDir(), "status-page.png")
	}
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("Screenshot: %s (%d bytes)", file, len(shot))
}
