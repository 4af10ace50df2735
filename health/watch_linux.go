package health

import (
	"errors"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// poller waits on every watched connection at once with one epoll instance,
// rather than with a goroutine blocked in a read on each. The epoll
// descriptor is itself pollable, so one goroutine waits for it in the
// runtime's own poller and reads its events when there are some.
//
// A watched connection stays a *net.TCPConn (dialled, and closed, by the
// net package); the poller adds its descriptor to its epoll set as well
// and reads it directly, without blocking, when it reports an event.
type poller struct {
	epfd int
	file *os.File // epfd, for the runtime's poller (its Fd method would make it blocking)
	done chan struct{}

	mu      sync.Mutex // guards below and every read of a watched descriptor
	watches map[uint64]*watchConn
	nextID  uint64
	buf     [512]byte
}

// watchConn is one watched connection.
type watchConn struct {
	id       uint64
	conn     *net.TCPConn
	fd       int
	received int
	ended    func(peerClosed bool) // see poller.add
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	p := &poller{epfd: fd, file: os.NewFile(uintptr(fd), "epoll"), done: make(chan struct{}), watches: map[uint64]*watchConn{}}
	go p.wait()
	return p, nil
}

// add watches conn: ended is called, once and on the poller's goroutine,
// when the watch ends by itself: with peerClosed when the peer closed or
// reset the connection, without when the watch gave up on a peer that sent
// more than maxWatchBytes. The returned function closes the connection and
// ends the watch; an ended call already under way may still come after it
// returned.
func (p *poller) add(conn *net.TCPConn, ended func(peerClosed bool)) (stop func(), err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	w := &watchConn{id: p.nextID, conn: conn, ended: ended}
	var ctlErr error
	err = raw.Control(func(fd uintptr) {
		w.fd = int(fd)
		// Level-triggered: an event not handled at once is reported again.
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(w.id), Pad: int32(w.id >> 32)}
		ctlErr = os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev))
	})
	if err = errors.Join(err, ctlErr); err != nil {
		return nil, err
	}
	p.watches[w.id] = w
	return func() { p.drop(w) }, nil
}

// drop ends a watch. Closing the descriptor takes it out of the epoll set.
func (p *poller) drop(w *watchConn) {
	p.mu.Lock()
	_, watched := p.watches[w.id]
	delete(p.watches, w.id)
	p.mu.Unlock()
	if watched {
		w.conn.Close()
	}
}

// close stops the poller; its watches must all have been dropped.
func (p *poller) close() {
	p.file.Close()
	<-p.done
}

// wait handles the epoll set's events until the poller is closed.
func (p *poller) wait() {
	defer close(p.done)
	raw, err := p.file.SyscallConn()
	if err != nil {
		return
	}
	events := make([]unix.EpollEvent, 128)
	for {
		var ended []func()
		err := raw.Read(func(fd uintptr) bool {
			n, err := unix.EpollWait(int(fd), events, 0)
			if n <= 0 || err != nil {
				return false // nothing yet: wait until the epoll descriptor is readable
			}
			ended = p.handle(events[:n], ended[:0])
			return true
		})
		if err != nil {
			return // closed
		}
		for _, fn := range ended {
			fn()
		}
	}
}

// handle reads the watched connections that have an event. Bytes the peer
// sent are counted and dropped, up to maxWatchBytes, after which the watch
// gives up on the connection (a talkative service); a connection the peer
// closed or reset ends its watch too. Either way the watch's ended function
// is returned, to be called without p.mu held: it releases the monitor's
// watch place, and wakes the monitor only when the peer went away.
func (p *poller) handle(events []unix.EpollEvent, ended []func()) []func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range events {
		id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
		w := p.watches[id]
		if w == nil {
			continue // dropped since the event
		}
		n, err := unix.Read(w.fd, p.buf[:])
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		peerClosed := n <= 0
		if !peerClosed {
			if w.received += n; w.received < maxWatchBytes {
				continue
			}
		}
		ended = append(ended, func() { w.ended(peerClosed) })
		delete(p.watches, id)
		w.conn.Close()
	}
	return ended
}

// descriptorLimit is the process's file-descriptor limit (the soft one,
// which Go raises to the hard limit at start-up).
func descriptorLimit() int {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return 1 << 20
	}
	return int(l.Cur)
}
