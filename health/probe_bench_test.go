package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/testpki"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Allocations per probe (issue 10: at most 10 per TCP probe, 40 per HTTP
// probe), for every probe type that runs on loopback:
//
//	go test -run '^$' -bench Probe -benchmem ./health/
//
// How the figure is made the prober's own: B/op and allocs/op come from
// the whole process's memory statistics (runtime.ReadMemStats), so a server
// in the benchmark's process would add its accept, handshake and handler
// allocations to every probe (about 6 of the 25 of a TCP probe when the
// server ran here, most of an HTTP probe's 146). The servers therefore run
// in a child process: this test binary run again as TestProbeBenchServer,
// which serves on loopback ports and lives until its standard input closes
// (when the benchmarks end, or die). What the benchmark counts is then
// exactly what the probe costs the prober: Check.Probe, the prober, the
// net and TLS stacks, and whatever goroutines they start (the HTTP
// transport's connection readers, gRPC's), nothing else.
//
// Every probe opens a new connection, as in production: the probers keep
// no connection from one probe to the next.

// benchServerEnv is set in the child process that serves the benchmarks.
const benchServerEnv = "FAILOVER_PROBE_BENCH_SERVER"

// benchServerLine starts the line on which the child tells its ports.
const benchServerLine = "probe-bench-servers"

// benchServers starts the child process once for all benchmarks and
// returns its ports by service ("tcp", "pingpong", "tls", "http",
// "https", "dns", "grpc", "grpcs") and, as "ca", the file of its CA.
var benchServers = sync.OnceValues(func() (map[string]string, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeBenchServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	cmd.Stderr = os.Stderr
	// Never closed: the child ends when this process does.
	var err error
	if benchServerStdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), benchServerLine+" "); ok {
				ports := map[string]string{}
				for _, f := range strings.Fields(rest) {
					k, v, _ := strings.Cut(f, "=")
					ports[k] = v
				}
				found <- ports
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case ports := <-found:
		return ports, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("the benchmark server process did not start within 30s")
	}
})

// benchServerStdin is kept so that the garbage collector does not close it,
// which would end the child process.
var benchServerStdin io.WriteCloser

// TestProbeBenchServer is the probe benchmarks' server process, not a test.
func TestProbeBenchServer(t *testing.T) {
	if os.Getenv(benchServerEnv) == "" {
		t.Skip("The probe benchmarks' server process: runs only when they start it")
	}
	ca := testpki.NewCA(t)
	cert := ca.Server(t, "www.example.org")
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	ports := map[string]net.Listener{}

	ports["tcp"] = listen()
	go acceptEach(ports["tcp"], func(net.Conn) {})

	ports["pingpong"] = listen()
	go acceptEach(ports["pingpong"], func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "PING\r\n" {
			c.Write([]byte("+PONG\r\n"))
		}
	})

	ports["tls"] = listen()
	go acceptEach(tls.NewListener(ports["tls"], tlsCfg), func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.(*tls.Conn).Handshake()
	})

	quiet := log.New(io.Discard, "", 0)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	ports["http"] = listen()
	go (&http.Server{Handler: ok, ErrorLog: quiet}).Serve(ports["http"])
	ports["https"] = listen()
	go (&http.Server{Handler: ok, ErrorLog: quiet, TLSConfig: tlsCfg}).ServeTLS(ports["https"], "", "")

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := dns.NewRR("www.example.org. 60 IN A 192.0.2.1")
	go (&dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{answer}
		w.WriteMsg(m)
	})}).ActivateAndServe()

	for name, opt := range map[string]grpc.ServerOption{"grpc": grpc.EmptyServerOption{}, "grpcs": grpc.Creds(credentials.NewTLS(tlsCfg))} {
		srv := grpc.NewServer(opt)
		healthpb.RegisterHealthServer(srv, grpchealth.NewServer()) // "" is SERVING
		ports[name] = listen()
		go srv.Serve(ports[name])
	}

	line := benchServerLine + " ca=" + ca.File + " dns=" + portOfAddr(t, pc.LocalAddr().String())
	for name, ln := range ports {
		line += " " + name + "=" + portOfAddr(t, ln.Addr().String())
	}
	fmt.Println(line)
	io.Copy(io.Discard, os.Stdin) // until the benchmarks end
}

// benchProbe measures one probe of the check url with options against the
// benchmark server of the given service. The check's port is the server's.
func benchProbe(b *testing.B, service, url string, options ...string) {
	b.Helper()
	ports, err := benchServers()
	if err != nil {
		b.Fatal(err)
	}
	for i, o := range options {
		options[i] = strings.ReplaceAll(o, "CA", ports["ca"])
	}
	c, err := NewCheck(CheckConfig{URL: strings.Replace(url, "PORT", ports[service], 1), Options: opts(options...), Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.close()
	// As a monitor's round does: the probe's context carries its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if r := c.Probe(ctx, loopback, 0); !r.OK {
		b.Fatalf("The probe fails: %v", r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := c.Probe(ctx, loopback, 0); !r.OK {
			b.Fatalf("The probe fails: %v", r)
		}
	}
}

func BenchmarkProbeTCP(b *testing.B) {
	benchProbe(b, "tcp", "tcp://www.example.org:PORT")
}

func BenchmarkProbeTCPSendExpect(b *testing.B) {
	benchProbe(b, "pingpong", "tcp://www.example.org:PORT", `send PING\r\n`, "expect +PONG")
}

func BenchmarkProbeTLS(b *testing.B) {
	benchProbe(b, "tls", "tls://www.example.org:PORT", "ca CA")
}

func BenchmarkProbeHTTP(b *testing.B) {
	benchProbe(b, "http", "http://www.example.org:PORT/health")
}

func BenchmarkProbeHTTPBody(b *testing.B) {
	benchProbe(b, "http", "http://www.example.org:PORT/health", "body_contains ok")
}

func BenchmarkProbeHTTPS(b *testing.B) {
	benchProbe(b, "https", "https://www.example.org:PORT/health", "ca CA")
}

func BenchmarkProbeDNS(b *testing.B) {
	benchProbe(b, "dns", "dns://www.example.org:PORT", "answer_contains 192.0.2.1")
}

func BenchmarkProbeGRPC(b *testing.B) {
	benchProbe(b, "grpc", "grpc://www.example.org:PORT")
}

func BenchmarkProbeGRPCS(b *testing.B) {
	benchProbe(b, "grpcs", "grpcs://www.example.org:PORT", "ca CA")
}

// BenchmarkProbeICMP needs raw ICMP sockets; the kernel answers, so there
// is no server to keep apart.
func BenchmarkProbeICMP(b *testing.B) {
	if !canUseRawICMP() {
		b.Skip("Needs raw ICMP sockets (root or CAP_NET_RAW)")
	}
	benchProbe(b, "", "icmp://www.example.org")
}
