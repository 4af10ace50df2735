package health

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxBannerBytes caps how much a tcp check reads while looking for 'expect'.
const maxBannerBytes = 4 << 10

// tcpProber is healthy when the target accepts a TCP connection and, if
// asked, answers 'send' with something containing 'expect'.
type tcpProber struct {
	send   []byte
	expect []byte
}

func newTCPProber(o *options) (*tcpProber, error) {
	// No timeout of its own: the probe's context carries the round's
	// deadline (Monitor.probe).
	p := &tcpProber{}
	send, _, err := o.str("send", `send "PING\r\n"`)
	if err != nil {
		return nil, err
	}
	expect, _, err := o.str("expect", `expect "+PONG"`)
	if err != nil {
		return nil, err
	}
	p.send, p.expect = []byte(send), []byte(expect)
	return p, nil
}

// Probe's RTT is the time to connect (curl's time_connect), also with send
// and expect: a banner's or a reply's delay is the service's, not the
// network's.
func (p *tcpProber) Probe(ctx context.Context, dst netip.AddrPort) Result {
	start := time.Now()
	conn, err := dialProbe(ctx, dst, 0)
	if err != nil {
		return failed(start, err)
	}
	connected := time.Since(start)
	defer conn.Close()
	if len(p.send) == 0 && len(p.expect) == 0 {
		return successRTT(start, connected)
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if len(p.send) > 0 {
		if _, err := conn.Write(p.send); err != nil {
			return failed(start, err)
		}
	}
	if len(p.expect) == 0 {
		return successRTT(start, connected)
	}
	if err := readUntil(conn, p.expect, maxBannerBytes); err != nil {
		return failed(start, err)
	}
	return successRTT(start, connected)
}

func (p *tcpProber) Close() {}

// errNoMatch means the peer's bytes did not contain what a check expects.
// It tells how much was read, never what.
type errNoMatch struct{ read, limit int }

func (e errNoMatch) Error() string {
	if e.read >= e.limit {
		return fmt.Sprintf("expected text not found in the first %d bytes", e.limit)
	}
	return fmt.Sprintf("expected text not found in the %d bytes received", e.read)
}

// bannerBufs holds readUntil's buffers, 512 bytes to start with.
var bannerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// readUntil reads from conn until want appears, limit bytes were read, or
// the peer stops.
func readUntil(conn net.Conn, want []byte, limit int) error {
	bp := bannerBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= limit { // what a peer made grow past the limit is dropped
			*bp = buf[:0]
			bannerBufs.Put(bp)
		}
	}()
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if bytes.Contains(buf, want) {
			return nil
		}
		if err != nil {
			if len(buf) > 0 {
				return errNoMatch{len(buf), limit}
			}
			return err
		}
	}
	return errNoMatch{len(buf), limit}
}
