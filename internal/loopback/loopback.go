// Package loopback holds what the demo and the benchmarks both need to run
// CoreDNS and backends on 127.0.0.1: free ports and A lookups.
package loopback

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// FreePort finds a port free for TCP and UDP on 127.0.0.1.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts finds n distinct ports free for TCP and UDP on 127.0.0.1. It
// holds each until all are found, so that none is handed out twice.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for attempt := 0; len(ports) < n && attempt < 20*n; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, pc)
		ports = append(ports, port)
	}
	if len(ports) < n {
		return nil, errors.New("no free ports on 127.0.0.1")
	}
	return ports, nil
}

var clients = map[string]*dns.Client{
	"udp": {Net: "udp", Timeout: time.Second},
	"tcp": {Net: "tcp", Timeout: time.Second},
}

// LookupA asks server for name's A records over UDP and returns the
// addresses, sorted.
func LookupA(server, name string) ([]string, error) { return LookupAOver(server, name, "udp") }

// LookupAOver is LookupA over proto, "udp" or "tcp".
func LookupAOver(server, name, proto string) ([]string, error) {
	client, ok := clients[proto]
	if !ok {
		return nil, fmt.Errorf("lookup over %q: want udp or tcp", proto)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := client.Exchange(m, server)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, nil
}
