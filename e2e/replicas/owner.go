package replicas

import (
	"encoding/binary"
	"errors"
	"maps"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The running replicas, by process id: for telling which one opened a
// connection.
var (
	liveMu sync.Mutex
	live   = map[int]*Replica{}
)

func register(pid int, r *Replica) {
	liveMu.Lock()
	live[pid] = r
	liveMu.Unlock()
}

func unregister(pid int) {
	liveMu.Lock()
	delete(live, pid)
	liveMu.Unlock()
}

// ownerOf finds the running replica whose process holds the client end of
// a TCP connection we accepted (c's remote address is its local one): the
// kernel names the socket's inode (sock_diag, asked in each replica's
// network namespace for the connection's exact addresses), and the
// replica holding it has it among its open files (/proc/PID/fd). Nil when
// no replica holds it: the replica has closed it already (it gave up on
// the probe, or died), or the client is not a replica. Linux only.
//
// (/proc/net/tcp would name the inode too, but it is read a page at a time
// and skips sockets when the table changes between two reads.)
func ownerOf(c net.Conn) *Replica {
	remote, ok1 := c.RemoteAddr().(*net.TCPAddr)
	local, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return nil
	}
	liveMu.Lock()
	pids := make(map[int]*Replica, len(live))
	maps.Copy(pids, live)
	liveMu.Unlock()
	inodes := map[string]uint32{} // by network namespace
	for p, r := range pids {
		pid := strconv.Itoa(p)
		ns, err := os.Readlink("/proc/" + pid + "/ns/net")
		if err != nil {
			continue
		}
		inode, seen := inodes[ns]
		if !seen {
			inode, _ = socketInode("/proc/"+pid+"/ns/net", remote.AddrPort(), local.AddrPort())
			inodes[ns] = inode
		}
		if inode != 0 && holds(pid, inode) {
			return r
		}
	}
	return nil
}

// holds reports whether process pid has socket inode open.
func holds(pid string, inode uint32) bool {
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return false
	}
	want := "socket:[" + strconv.FormatUint(uint64(inode), 10) + "]"
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/" + pid + "/fd/" + fd.Name()); err == nil && link == want {
			return true
		}
	}
	return false
}

// socketInode asks the kernel (sock_diag, in network namespace ns, a
// /proc/PID/ns/net path) for the inode of the TCP socket whose local
// address is src and remote address dst.
func socketInode(ns string, src, dst netip.AddrPort) (uint32, error) {
	fd, err := netlinkIn(ns)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, diagRequest(src, dst), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
					return 0, syscall.Errno(-errno)
				}
			}
		case unix.SOCK_DIAG_BY_FAMILY:
			// inet_diag_msg: family, state, timer, retrans (1 byte
			// each), inet_diag_sockid (48), expires, rqueue, wqueue,
			// uid, inode (4 each).
			if len(m.Data) >= 72 {
				return binary.NativeEndian.Uint32(m.Data[68:]), nil
			}
		}
	}
	return 0, errors.New("sock_diag: no answer")
}

// diagRequest is a netlink message asking for one TCP socket by its
// addresses: struct inet_diag_req_v2 after the header.
func diagRequest(src, dst netip.AddrPort) []byte {
	const hdr, req = 16, 56
	b := make([]byte, hdr+req)
	binary.NativeEndian.PutUint32(b[0:], hdr+req)
	binary.NativeEndian.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST)
	r := b[hdr:]
	family := unix.AF_INET6
	if src.Addr().Unmap().Is4() && dst.Addr().Unmap().Is4() {
		family = unix.AF_INET
	}
	r[0], r[1] = byte(family), unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(r[4:], 0xffffffff) // any state
	id := r[8:]                                      // inet_diag_sockid
	binary.BigEndian.PutUint16(id[0:], src.Port())
	binary.BigEndian.PutUint16(id[2:], dst.Port())
	putAddr(id[4:20], src.Addr(), family)
	putAddr(id[20:36], dst.Addr(), family)
	// id[36:40], the interface: any. The cookie: none to match.
	binary.NativeEndian.PutUint32(id[40:], 0xffffffff)
	binary.NativeEndian.PutUint32(id[44:], 0xffffffff)
	return b
}

func putAddr(b []byte, a netip.Addr, family int) {
	if family == unix.AF_INET {
		v4 := a.Unmap().As4()
		copy(b, v4[:])
		return
	}
	v6 := a.As16()
	copy(b, v6[:])
}

// netlinkIn opens a sock_diag netlink socket in network namespace ns (a
// socket stays in the namespace it was made in): from a thread moved
// there for the moment, unless ns is the caller's already.
func netlinkIn(ns string) (int, error) {
	open := func() (int, error) {
		return unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return 0, err
	}
	if other, err := os.Readlink(ns); err != nil || other == self {
		return open()
	}
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	defer unix.Close(orig)
	target, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	fd, openErr := open()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// The thread stays in the other namespace: leave it locked, so
		// that it ends with this goroutine rather than serve others.
		if openErr == nil {
			unix.Close(fd)
		}
		return 0, err
	}
	runtime.UnlockOSThread()
	return fd, openErr
}
