package fleet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/failover-dns/failover/e2e/browsertest"
	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
)

// TestFleetStatusPage opens a replica's status page in headless Chromium:
// each target shows its probers (this replica marked "here") with their
// verdicts and the quorum; when the primary dies, its probers show down.
func TestFleetStatusPage(t *testing.T) {
	ctx := browsertest.Context(t)
	etcd := startEtcd(t, etcdtest.Options{})
	b := newPair(t, "127.0.0.21", "127.0.0.22")
	rs := start(t, corefile(etcd.Endpoint(), b, fleetOptions{}), replicas.Options{}, "a", "b", "c")
	waitAnswers(t, rs, host(b.primary), 20*time.Second)
	probers := waitProbers(t, b.primary, 2, 10*time.Second)

	a := rs[0]
	url := fmt.Sprintf("http://127.0.0.1:%d/", a.Port("STATUS_PORT"))
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`document.querySelector('tr[data-target="%s"] .fleet')`, host(b.primary))
	browsertest.WaitTrue(ctx, t, row+` !== null && `+row+`.textContent.includes("probers (quorum 2)")`, "the primary's probers")
	line := browsertest.Text(ctx, t, fmt.Sprintf(`tr[data-target="%s"] .fleet`, host(b.primary)))
	for _, p := range probers {
		if !strings.Contains(line, p+" ") && !strings.Contains(line, p+" (here)") {
			t.Errorf("The primary's fleet line %q does not name prober %s", line, p)
		}
	}
	if strings.Contains(line, "a ") != strings.Contains(line, "a (here)") {
		t.Errorf("The fleet line %q does not mark replica a as here", line)
	}

	b.primary.Close()
	browsertest.WaitTrue(ctx, t, row+`.querySelectorAll('.prober.down').length === 2`, "both probers of the primary down")
}
