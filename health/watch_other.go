//go:build !linux

package health

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// poller waits on each watched connection with a goroutine blocked in a
// read: outside Linux there is no epoll, and the watch costs a goroutine per
// watched target.
type poller struct {
	wg sync.WaitGroup
}

func newPoller() (*poller, error) { return &poller{}, nil }

// add: as on Linux (watch_linux.go).
func (p *poller) add(conn *net.TCPConn, ended func(peerClosed bool)) (stop func(), err error) {
	var once sync.Once
	stopped := make(chan struct{})
	stop = func() {
		once.Do(func() { close(stopped); conn.SetReadDeadline(time.Unix(1, 0)) })
	}
	p.wg.Go(func() {
		defer conn.Close()
		buf := make([]byte, 512)
		var err error
		for total := 0; total < maxWatchBytes && err == nil; {
			var n int
			n, err = conn.Read(buf)
			total += n
		}
		select {
		case <-stopped:
		default:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				ended(err != nil) // no error: a talkative peer the watch gives up on
			}
		}
	})
	return stop, nil
}

func (p *poller) close() { p.wg.Wait() }

// descriptorLimit: without a portable way to ask, assume the common 8192.
func descriptorLimit() int { return 8192 }
