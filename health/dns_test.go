package health

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// serveRawDNS answers every UDP datagram and every length-prefixed TCP
// message on one loopback port with reply(query bytes), as a service that
// is not a DNS server (or a broken one) would.
func serveRawDNS(t *testing.T, reply func(query []byte) []byte) string {
	t.Helper()
	pc, ln, port := listenUDPAndTCP(t)
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, dns.MaxMsgSize)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(reply(buf[:n]), from)
		}
	}()
	go acceptEach(ln, func(c net.Conn) {
		var size [2]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		out := reply(q)
		c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...))
	})
	return port
}

// replyEdited answers with the query turned into a reply (as SetReply
// does, with an A record for its name) and then changed by edit.
func replyEdited(edit func(*dns.Msg)) func([]byte) []byte {
	return func(q []byte) []byte {
		query := new(dns.Msg)
		if err := query.Unpack(q); err != nil {
			return nil
		}
		m := new(dns.Msg)
		m.SetReply(query)
		if len(query.Question) == 1 {
			rr, _ := dns.NewRR(query.Question[0].Name + " 60 IN A 192.0.2.1")
			m.Answer = []dns.RR{rr}
		}
		edit(m)
		out, _ := m.Pack()
		return out
	}
}

// TestDNSProbeRequiresAReply: a service that sends the query back (a UDP
// or TCP echo) has the query's ID, so the ID alone passed it as a healthy
// DNS server. A reply must have QR set, the query's opcode and the query's
// question (the name in any case, as 0x20-style servers and some
// resolvers return it).
func TestDNSProbeRequiresAReply(t *testing.T) {
	echo := serveRawDNS(t, func(q []byte) []byte { return q })
	for _, tc := range []struct {
		name   string
		port   string
		detail string // "" for a pass
	}{
		{"echo", echo, "not a reply"},
		{"another opcode", serveRawDNS(t, replyEdited(func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus })), "opcode STATUS"},
		{"another name", serveRawDNS(t, replyEdited(func(m *dns.Msg) { m.Question[0].Name = "www.example.net." })), "question"},
		{"another type", serveRawDNS(t, replyEdited(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA })), "question"},
		{"another class", serveRawDNS(t, replyEdited(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS })), "question"},
		{"no question", serveRawDNS(t, replyEdited(func(m *dns.Msg) { m.Question = nil })), "question"},
		{"name in other case", serveRawDNS(t, replyEdited(func(m *dns.Msg) { m.Question[0].Name = "GOOD.Example.ORG." })), ""},
		{"a real reply", serveRawDNS(t, replyEdited(func(*dns.Msg) {})), ""},
	} {
		for _, transport := range []string{"udp", "tcp"} {
			r := probeURL(t, CheckConfig{URL: "dns://good.example.org:" + tc.port, Options: opts("transport " + transport)})
			switch {
			case tc.detail == "" && !r.OK:
				t.Errorf("%s over %s: got %+v, want a pass", tc.name, transport, r)
			case tc.detail != "" && (r.OK || r.Reason != ReasonProtocol || !strings.Contains(r.Detail, tc.detail)):
				t.Errorf("%s over %s: got %+v, want reason %q and a detail with %q", tc.name, transport, r, ReasonProtocol, tc.detail)
			}
		}
	}
}
