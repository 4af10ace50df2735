package failover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	dashboardFile  = "dashboards/failover.json"
	rulesFile      = "alerts/failover.rules.yml"
	rulesTestsFile = "alerts/failover.rules.test.yml"
)

// exportedMetrics are the metrics README.md's Metrics section lists; the
// dashboard shows each of them.
var exportedMetrics = []string{
	"coredns_failover_target_up", "coredns_failover_target_rtt_seconds", "coredns_failover_target_slow", "coredns_failover_probes_total",
	"coredns_failover_probe_duration_seconds", "coredns_failover_probe_lateness_seconds",
	"coredns_failover_transitions_total", "coredns_failover_answers_total", "coredns_failover_target_override",
	"coredns_failover_all_down_total", "coredns_failover_notifications_total", "coredns_failover_notification_queue_length",
}

// needProm returns the path of a program of Debian's prometheus package. It
// skips the test when the program is missing, but fails it under CI (CI set
// and not false), where .ci/run installs the package.
func needProm(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("Needs %s from Debian's prometheus package (apt-get install prometheus; .ci/run installs it)", name)
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(msg + ", and CI is set")
	}
	t.Skip(msg)
	return ""
}

// TestAlertRules: the alerting rules are valid and pass their unit tests.
func TestAlertRules(t *testing.T) {
	promtool := needProm(t, "promtool")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestsFile}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, promtool, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// panelQuery is one PromQL expression of the dashboard.
type panelQuery struct {
	panel, expr string
}

// dashboardQueries reads the dashboard, checks its shape (schema, variables,
// data sources, unique panel IDs) and returns its expressions.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type datasource struct{ Type, UID string }
	type panel struct {
		ID         int
		Type       string
		Title      string
		Datasource *datasource
		Targets    []struct {
			Expr       string
			Datasource *datasource
		}
		Panels []json.RawMessage
	}
	var d struct {
		SchemaVersion int
		UID           string
		Panels        []json.RawMessage
		Templating    struct {
			List []struct {
				Name, Type string
				Query      json.RawMessage
				Definition string
				Datasource *datasource
			}
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion < 36 || d.UID == "" {
		t.Errorf("%s: schemaVersion %d and uid %q, want a current schema (39) and a uid", dashboardFile, d.SchemaVersion, d.UID)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		switch v.Name {
		case "datasource":
			if v.Type != "datasource" || string(v.Query) != `"prometheus"` {
				t.Errorf("Variable datasource: type %q query %s, want a prometheus data source variable", v.Type, v.Query)
			}
		case "pool":
			if v.Type != "query" || v.Definition != "label_values(coredns_failover_target_up, pool)" || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("Variable pool: type %q, definition %q, want label_values(coredns_failover_target_up, pool) from ${datasource}", v.Type, v.Definition)
			}
		}
	}
	if vars["datasource"] == "" || vars["pool"] == "" {
		t.Errorf("%s: variables %v, want datasource and pool", dashboardFile, vars)
	}

	var queries []panelQuery
	ids := map[int]bool{}
	var walk func([]json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for _, raw := range raws {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%s: %v", dashboardFile, err)
			}
			if ids[p.ID] {
				t.Errorf("Panel %q: id %d is used twice", p.Title, p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
				t.Errorf("Panel %q: data source %+v and %d queries, want queries from ${datasource}", p.Title, p.Datasource, len(p.Targets))
			}
			for _, q := range p.Targets {
				if q.Datasource == nil || q.Datasource.UID != "${datasource}" || q.Expr == "" {
					t.Errorf("Panel %q: a query %q from %+v, want an expression from ${datasource}", p.Title, q.Expr, q.Datasource)
				}
				queries = append(queries, panelQuery{panel: p.Title, expr: q.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, m := range exportedMetrics {
		if !slices.ContainsFunc(queries, func(q panelQuery) bool { return strings.Contains(q.expr, m) }) {
			t.Errorf("No panel of %s shows %s", dashboardFile, m)
		}
	}
	return queries
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// promServer is a Prometheus server run by a test.
type promServer struct {
	addr string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// syncBuffer collects a process's output for the test's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startPrometheus starts Prometheus on a free port of 127.0.0.1, scraping
// target every second and evaluating the rules of rulesFile every second,
// with its storage in a temporary directory. It stops at the test's end.
func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	bin := needProm(t, "prometheus")
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: coredns
    static_configs:
      - targets: [%q]
`, rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &promServer{addr: "127.0.0.1:" + freePort(t), log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.addr,
		"--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("Could not start prometheus: %v", err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	waitFor(t, 15*time.Second, "prometheus to be ready", func() bool {
		select {
		case <-p.done:
			t.Fatalf("Prometheus exited: %v\n%s", p.cmd.ProcessState, p.log)
		default:
		}
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// stop ends Prometheus: SIGTERM, then SIGKILL after 5 seconds.
func (p *promServer) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// apiGet decodes the data of a Prometheus API response into out, or
// returns the API's error.
func (p *promServer) apiGet(path string, out any) error {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Status    string
		ErrorType string
		Error     string
		Data      json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: HTTP %s, %v", path, resp.Status, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", r.ErrorType, r.Status, r.Error)
	}
	return json.Unmarshal(r.Data, out)
}

// query evaluates expr now and returns the number of elements of the result.
func (p *promServer) query(expr string) (int, error) {
	var data struct {
		ResultType string
		Result     json.RawMessage
	}
	if err := p.apiGet("/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		return 0, err
	}
	var result []json.RawMessage
	if data.ResultType == "vector" || data.ResultType == "matrix" {
		if err := json.Unmarshal(data.Result, &result); err != nil {
			return 0, err
		}
		return len(result), nil
	}
	return 1, nil // a scalar or string
}

// alertRule is a rule of the loaded rules as Prometheus reports it.
type alertRule struct {
	Name, Query, Health, LastError, State string
	Alerts                                []struct {
		Labels map[string]string
		State  string
	}
}

func (p *promServer) rules(t *testing.T) []alertRule {
	t.Helper()
	var data struct{ Groups []struct{ Rules []alertRule } }
	if err := p.apiGet("/api/v1/rules", &data); err != nil {
		t.Fatal(err)
	}
	var rules []alertRule
	for _, g := range data.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// TestDashboardAndRulesInPrometheus: a real Prometheus scrapes a CoreDNS
// whose pools lose a target (web) and every target (solo), and evaluates
// every expression of the dashboard and of the alerting rules: none fails,
// and those about the series such a failure makes return data. The rules
// Prometheus loads evaluate without error, and the alerts the failure
// raises are pending or firing.
func TestDashboardAndRulesInPrometheus(t *testing.T) {
	queries := dashboardQueries(t)
	needProm(t, "prometheus")

	web, webPort := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	solo, soloPort := startBackends(t, nil, "127.0.0.3")
	overrides := filepath.Join(t.TempDir(), "overrides")
	if err := os.WriteFile(overrides, []byte("web.example.org 127.0.0.1 up test override\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	metrics := "127.0.0.1:" + freePort(t)
	var hooks atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hooks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	s := startCoreDNS(t, `example.org:0 {
	prometheus `+metrics+`
	failover {
		overrides `+overrides+`
		notify `+receiver.URL+`/hook
		pool web.example.org {
			target 127.0.0.1
			target 127.0.0.2
			check http://web.example.org:`+webPort+`/
			interval 200ms
			timeout 150ms
			slow_rtt 100ms
		}
		pool solo.example.org {
			target 127.0.0.3
			check http://solo.example.org:`+soloPort+`/
			interval 200ms
			timeout 150ms
		}
	}
}`)
	// Queries all along, so that answers_total grows.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			for _, name := range []string{"web.example.org.", "solo.example.org."} {
				s.query("udp", name, dns.TypeA)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})

	start := time.Now()
	prom := startPrometheus(t, metrics)
	t.Logf("Prometheus ready in %s", time.Since(start).Round(time.Millisecond))
	waitFor(t, 15*time.Second, "prometheus to scrape every target up", func() bool {
		n, err := prom.query(`coredns_failover_target_up{job="coredns"} == 1`)
		return err == nil && n == 3
	})
	web[1].stop()
	solo[0].stop()

	// Substitute the dashboard's variables as Grafana would.
	vars := strings.NewReplacer(
		"$pool", `web.example.org.|solo.example.org.`,
		"$__rate_interval", "1m", "$__interval", "15s", "$__range", "5m")
	type check struct {
		what, expr string
		data       bool // must return data
	}
	var checks []check
	for _, q := range queries {
		expr := vars.Replace(q.expr)
		if strings.Contains(expr, "$") {
			t.Errorf("Panel %q: %s keeps a variable the test does not know", q.panel, q.expr)
		}
		checks = append(checks, check{what: "panel " + q.panel, expr: expr, data: true})
	}
	rules := prom.rules(t)
	ruleText, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(ruleText), "- alert: "); len(rules) != n {
		t.Fatalf("Prometheus loaded %d rules from %s, want %d", len(rules), rulesFile, n)
	}
	raised := map[string]bool{ // the alerts the failure raises (pending or firing)
		"FailoverTargetDown": true, "FailoverPoolDegraded": true, "FailoverPoolAllDown": true, "FailoverPoolAllDownEngaged": true,
	}
	for _, r := range rules {
		checks = append(checks, check{what: "alert " + r.Name, expr: r.Query, data: raised[r.Name]})
	}

	// Wait until every expression that should have data has it: the
	// failures must have been scraped twice for rate() to see them.
	var missing []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		missing = missing[:0]
		for _, c := range checks {
			n, err := prom.query(c.expr)
			if err != nil {
				t.Fatalf("%s: %s: %v", c.what, c.expr, err)
			}
			if c.data && n == 0 {
				missing = append(missing, c.what+": "+c.expr)
			}
			if !c.data && n > 0 {
				t.Errorf("%s: %s returned %d series, want none", c.what, c.expr, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) || t.Failed() {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("No data from %s", m)
	}
	t.Logf("Evaluated %d expressions (%d of the dashboard, %d rules), %s after Prometheus started",
		len(checks), len(queries), len(rules), time.Since(start).Round(time.Millisecond))
	if hooks.Load() == 0 {
		t.Error("The webhook receiver got no notification, yet the notification panels had data")
	}

	// Prometheus's own evaluation of the rules: no error, and the alerts
	// raised for the right pools.
	want := []string{
		"FailoverPoolAllDown solo.example.org.  pending",
		"FailoverPoolAllDownEngaged solo.example.org.  firing",
		"FailoverPoolDegraded web.example.org.  pending",
		"FailoverTargetDown solo.example.org. 127.0.0.3 pending",
		"FailoverTargetDown web.example.org. 127.0.0.2 pending",
	}
	var states []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		states = states[:0]
		for _, r := range prom.rules(t) {
			if r.Health != "ok" || r.LastError != "" {
				t.Fatalf("Rule %s: health %q, error %q", r.Name, r.Health, r.LastError)
			}
			for _, a := range r.Alerts {
				states = append(states, fmt.Sprintf("%s %s %s %s", r.Name, a.Labels["pool"], a.Labels["target"], a.State))
			}
		}
		slices.Sort(states)
		if slices.Equal(states, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("Alerts (name, pool, target, state):\n%s\nwant\n%s", strings.Join(states, "\n"), strings.Join(want, "\n"))
			break
		}
	}
	if t.Failed() {
		t.Logf("Prometheus log:\n%s", prom.log)
	}
}
