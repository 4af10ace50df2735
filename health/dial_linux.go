package health

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// dialProbe connects to dst for one probe, with a reset on close (SO_LINGER
// 0, as resettingDialer), and gives up at ctx's deadline, at timeout (if
// not 0) or when ctx is cancelled.
//
// A tcp probe costs 7 allocations with it, 19 with net.Dialer.DialContext,
// which formats dst, parses and resolves it again, and asks the kernel for
// both addresses of the connection (getsockname, getpeername), none of
// which a probe needs. It makes a non-blocking socket and lets the
// runtime's poller (through os.File) wait for the connect to finish, as
// net does. It never binds before connecting, unlike net.Dialer.DialTCP
// with no local address, the likely cause of that dialer's collapse in the
// 10,000-target run (see BENCHMARKS.md): a bind to port 0 holds an
// ephemeral port against every destination, where connect can share one.
func dialProbe(ctx context.Context, dst netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	sa, family := sockaddr(dst)
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, dialError(dst, os.NewSyscallError("socket", err))
	}
	if err := syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &lingerReset); err != nil {
		syscall.Close(fd)
		return nil, dialError(dst, os.NewSyscallError("setsockopt", err))
	}
	// As net does for every TCP connection: without it, a request written
	// after a TLS handshake waits for a delayed ACK (Nagle), 40 ms on Linux.
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		syscall.Close(fd)
		return nil, dialError(dst, os.NewSyscallError("setsockopt", err))
	}
	switch err = syscall.Connect(fd, sa); err {
	case nil, syscall.EISCONN:
		err = nil
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		// As net: the connect goes on (after EINTR too); wait for it.
	default:
		syscall.Close(fd)
		return nil, dialError(dst, os.NewSyscallError("connect", err))
	}
	// From here on the file owns fd; os.NewFile registers it with the
	// poller because it is non-blocking.
	c := &probeConn{f: os.NewFile(uintptr(fd), "tcp"), dst: dst, net: "tcp"}
	if err == nil {
		return c, nil
	}
	if err := c.waitConnected(ctx, timeout); err != nil {
		c.f.Close()
		return nil, dialError(dst, err)
	}
	return c, nil
}

// sockaddr is dst for the socket calls, and its address family.
func sockaddr(dst netip.AddrPort) (syscall.Sockaddr, int) {
	a := dst.Addr()
	if a.Is4() || a.Is4In6() {
		return &syscall.SockaddrInet4{Port: int(dst.Port()), Addr: a.Unmap().As4()}, syscall.AF_INET
	}
	sa := &syscall.SockaddrInet6{Port: int(dst.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.ZoneId = uint32(n) // as net: a zone may be an index
		}
	}
	return sa, syscall.AF_INET6
}

// lingerReset makes close send a reset: SO_LINGER on, 0 seconds.
var lingerReset = syscall.Linger{Onoff: 1, Linger: 0}

// waitConnected waits for a non-blocking connect to finish.
func (c *probeConn) waitConnected(ctx context.Context, timeout time.Duration) error {
	deadline, ok := ctx.Deadline()
	if timeout > 0 {
		if d := time.Now().Add(timeout); !ok || d.Before(deadline) {
			deadline = d
		}
	}
	c.f.SetWriteDeadline(deadline) // the zero time when there is none
	defer c.f.SetWriteDeadline(time.Time{})
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.f.SetWriteDeadline(aLongTimeAgo) })
		defer stop()
	}
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var connectErr error
	// Check before every wait, the first included: the poller forgets a
	// readiness that came before the wait began (RawWrite resets it), so a
	// connect that finished meanwhile would otherwise wait for ever.
	err = rc.Write(func(fd uintptr) bool {
		n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
		switch errno := syscall.Errno(n); {
		case err != nil:
			connectErr = os.NewSyscallError("getsockopt", err)
		case errno == syscall.EINPROGRESS || errno == syscall.EALREADY || errno == syscall.EINTR:
			return false
		case errno != 0:
			connectErr = os.NewSyscallError("connect", errno)
		case !isConnected(fd):
			return false // still connecting
		}
		return true
	})
	switch {
	case err != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return ctx.Err() // cancelled
	case err != nil:
		return unwrapPath(err) // os.ErrDeadlineExceeded: "i/o timeout"
	}
	return connectErr
}

// isConnected reports whether the socket has a peer, as net's connect
// checks too, without allocating (syscall.Getpeername would allocate the
// address).
func isConnected(fd uintptr) bool {
	var sa syscall.RawSockaddrAny
	n := uint32(syscall.SizeofSockaddrAny)
	_, _, errno := syscall.RawSyscall(syscall.SYS_GETPEERNAME, fd, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n)))
	return errno == 0
}

// dialError is the error net.Dialer would return, so that reasons and
// details read as before: "dial tcp: connect: connection refused".
func dialError(dst netip.AddrPort, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(dst), Err: err}
}

// probeConn is a TCP connection made by dialProbe, on an os.File: reads,
// writes and deadlines go through the same runtime poller as a net.Conn's.
type probeConn struct {
	f   *os.File
	dst netip.AddrPort
	net string // "tcp" or "udp", for errors
}

// dialUDP makes a UDP socket connected to dst, as net.DialUDP does, for
// fewer allocations (dialProbe says which). A UDP connect sends nothing:
// it needs no timeout.
func dialUDP(dst netip.AddrPort) (net.Conn, error) {
	sa, family := sockaddr(dst)
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "udp", Addr: net.UDPAddrFromAddrPort(dst), Err: os.NewSyscallError("socket", err)}
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "udp", Addr: net.UDPAddrFromAddrPort(dst), Err: os.NewSyscallError("connect", err)}
	}
	return &probeConn{f: os.NewFile(uintptr(fd), "udp"), dst: dst, net: "udp"}, nil
}

func (c *probeConn) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	return n, c.opError("read", err)
}

func (c *probeConn) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	return n, c.opError("write", err)
}

func (c *probeConn) Close() error { return c.f.Close() }

// LocalAddr asks the kernel; no probe needs it. (Not through f.Fd(), which
// would put the socket in blocking mode.)
func (c *probeConn) LocalAddr() net.Addr {
	addr := &net.TCPAddr{}
	if rc, err := c.f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			switch sa, _ := syscall.Getsockname(int(fd)); sa := sa.(type) {
			case *syscall.SockaddrInet4:
				addr = &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
			case *syscall.SockaddrInet6:
				addr = &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
			}
		})
	}
	if c.net == "udp" {
		return &net.UDPAddr{IP: addr.IP, Port: addr.Port}
	}
	return addr
}

func (c *probeConn) RemoteAddr() net.Addr               { return net.TCPAddrFromAddrPort(c.dst) }
func (c *probeConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *probeConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *probeConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// opError turns the os package's errors into the net package's ("read
// tcp: read: connection reset by peer", not "read tcp: connection reset by
// peer"), io.EOF left as it is.
func (c *probeConn) opError(op string, err error) error {
	var pe *fs.PathError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	inner := pe.Err
	if errno, ok := inner.(syscall.Errno); ok {
		inner = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: c.net, Addr: c.RemoteAddr(), Err: inner}
}

// unwrapPath takes the file name off an error of the os package.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
