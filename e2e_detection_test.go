package failover_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const backendProcessEnv = "FAILOVER_TEST_BACKEND_ADDR"

// TestHelperBackendProcess is not a test: started by processBackend with
// the address in its environment, it serves HTTP there until it is killed.
func TestHelperBackendProcess(t *testing.T) {
	addr := os.Getenv(backendProcessEnv)
	if addr == "" {
		t.Skip("Helper process for the detection tests")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Println("listening")
	http.Serve(ln, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
}

// processBackend runs an HTTP backend in a process of its own, so that it
// can be killed with SIGKILL.
func processBackend(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBackendProcess$")
	cmd.Env = append(os.Environ(), backendProcessEnv+"="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 9)
	if _, err := out.Read(buf); err != nil || string(buf) != "listening" {
		t.Fatalf("Backend process on %s did not start: %q %v", addr, buf, err)
	}
	return cmd
}

// Detection settings as the issue gives them: a long interval, so that only
// the connection watch can explain a detection well inside it.
const (
	detectInterval = 5 * time.Second
	detectTimeout  = 500 * time.Millisecond
	detectFast     = 600 * time.Millisecond
	detectFall     = 3
)

func detectionCorefile(port string) string {
	return fmt.Sprintf(`example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check http://www.example.org:%s/health
			interval %s
			timeout %s
			fast_interval %s
			fall %d
		}
	}
}`, port, detectInterval, detectTimeout, detectFast, detectFall)
}

func TestDetectKilledProcess(t *testing.T) {
	// The secondary is in-process; the primary is a process on the same port.
	lns, port := listenSamePort(t, "127.0.0.1", "127.0.0.2")
	lns[0].Close()
	secondary := &backend{t: t, addr: "127.0.0.2:" + port, handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	secondary.serve(lns[1])
	t.Cleanup(secondary.stop)
	primary := processBackend(t, "127.0.0.1:"+port)

	s := startCoreDNS(t, detectionCorefile(port))
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2")
	s.waitAnswer(t, "www.example.org.", dns.TypeA, time.Second, "127.0.0.1")
	time.Sleep(time.Duration(time.Now().UnixNano() % int64(time.Second))) // a random phase of the probe schedule

	if err := primary.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	d := s.waitAnswer(t, "www.example.org.", dns.TypeA, detectInterval, "127.0.0.2")
	t.Logf("Primary killed with SIGKILL: out of the answers after %s (interval %s, fast_interval %s, fall %d)",
		d.Round(time.Millisecond), detectInterval, detectFast, detectFall)
	if d > detectInterval/2 {
		t.Errorf("Detection took %s: the connection watch should beat half the interval (%s)", d, detectInterval/2)
	}
}

func TestDetectBlackhole(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	s := startCoreDNS(t, detectionCorefile(port))
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2")
	s.waitAnswer(t, "www.example.org.", dns.TypeA, time.Second, "127.0.0.1")

	bs[0].blackhole()
	bound := detectInterval + detectTimeout + (detectFall-1)*detectFast
	d := s.waitAnswer(t, "www.example.org.", dns.TypeA, bound+slack, "127.0.0.2")
	t.Logf("Primary blackholed: out of the answers after %s (bound interval + timeout + (fall-1) x fast_interval = %s, plus slack)",
		d.Round(time.Millisecond), bound)
}

// TestSharedProbesAcrossPools: two pools checking the same target the same
// way cause one request per interval, not two.
func TestSharedProbesAcrossPools(t *testing.T) {
	var hits atomic.Int64
	_, port := startBackends(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }), "127.0.0.1")
	const interval = 200 * time.Millisecond
	pool := func(name string) string {
		return fmt.Sprintf(`
		pool %s {
			target 127.0.0.1
			check http://shared.example.org:%s/health
			interval %s
		}`, name, port, interval)
	}
	s := startCoreDNS(t, `example.org:0 {
	failover {`+pool("www.example.org")+pool("web.example.org")+`
	}
}`)
	waitAllUp(t, "www.example.org.", "127.0.0.1")
	waitAllUp(t, "web.example.org.", "127.0.0.1")
	start, h0 := time.Now(), hits.Load()
	time.Sleep(2 * time.Second)
	rounds := float64(time.Since(start)) / float64(interval)
	got := float64(hits.Load() - h0)
	t.Logf("Two pools, one check: %v requests in %.1f intervals", got, rounds)
	if got > 1.3*rounds || got < 0.5*rounds {
		t.Errorf("Backend saw %v requests in %.1f intervals: want about one per interval", got, rounds)
	}
	for _, name := range []string{"www.example.org.", "web.example.org."} {
		s.waitAnswer(t, name, dns.TypeA, time.Second, "127.0.0.1")
	}
}
