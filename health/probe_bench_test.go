package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchProbe measures one probe of cfg against a server on 127.0.0.1,
// allocations included (issue 10's targets: at most 10 per TCP probe, 40
// per HTTP probe).
func benchProbe(b *testing.B, cfg CheckConfig) {
	b.Helper()
	cfg.Timeout = time.Second
	c, err := NewCheck(cfg)
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	benchProbe(b, CheckConfig{URL: "tcp://www.example.org:" + portOfAddrB(b, ln.Addr().String())})
}

func BenchmarkProbeHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	benchProbe(b, CheckConfig{URL: "http://www.example.org:" + portOfAddrB(b, srv.Listener.Addr().String()) + "/health"})
}

func portOfAddrB(b *testing.B, addr string) string {
	b.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		b.Fatal(err)
	}
	return port
}
