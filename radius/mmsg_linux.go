//go:build linux

package radius

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgConn reads and writes datagrams in batches with recvmmsg and
// sendmmsg, made as raw system calls on the socket's non-blocking
// descriptor (the Go poller waits when there is nothing to read).
//
// Why raw: a system call made the usual way marks the goroutine's P as in
// a system call, and with one P (`serve --procs 1`) sysmon takes the P
// from any that lasts past its 20 µs tick and wakes another thread to run
// it. A sendmmsg of 32 replies on loopback, which delivers each one into
// the receiver's socket, often lasts that long: the P moved between
// threads ~3,000 times a second at 50,000 logins/s, and each move resets
// sysmon to its shortest sleep (it woke ~4,000 times a second). These
// calls never block, so a raw call keeps the P on its thread. It also
// reads sources straight into netip.AddrPorts: x/net's ReadBatch made a
// *net.UDPAddr per datagram.
type mmsgConn struct {
	c  *net.UDPConn
	rc syscall.RawConn
	v4 bool

	rh  []mmsghdr
	riv []unix.Iovec
	rsa []unix.RawSockaddrInet6 // large enough for either family
	// rctl holds each datagram's control data: the SO_RXQ_OVFL count.
	rctl  []byte
	drops uint64
	wh    []mmsghdr
	wiv   []unix.Iovec
	wsa   []unix.RawSockaddrInet6
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

func newDatagrams(c *net.UDPConn) datagrams {
	rc, err := c.SyscallConn()
	if err != nil {
		return newPortableDatagrams(c)
	}
	return &mmsgConn{c: c, rc: rc, v4: isV4(c)}
}

func (m *mmsgConn) read(bufs [][]byte, ns []int, srcs []netip.AddrPort) (int, error) {
	k := len(bufs)
	if len(m.rh) < k {
		m.rh, m.riv, m.rsa = make([]mmsghdr, k), make([]unix.Iovec, k), make([]unix.RawSockaddrInet6, k)
		m.rctl = make([]byte, k*ctlSpace)
	}
	for i, b := range bufs {
		m.riv[i].Base = &b[0]
		m.riv[i].SetLen(len(b))
		h := &m.rh[i].hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&m.rsa[i])), Namelen: unix.SizeofSockaddrInet6, Iov: &m.riv[i],
			Control: &m.rctl[i*ctlSpace]}
		h.SetIovlen(1)
		h.SetControllen(ctlSpace)
	}
	n, errno, err := mmsg(m.rc.Read, unix.SYS_RECVMMSG, m.rh[:k])
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	for i := range n {
		ns[i] = int(m.rh[i].n)
		srcs[i] = m.source(&m.rsa[i])
		if d, ok := rxqOverflow(m.rctl[i*ctlSpace:][:m.rh[i].hdr.Controllen]); ok {
			m.drops = max(m.drops, uint64(d))
		}
	}
	return n, nil
}

func (m *mmsgConn) kernelDrops() uint64 { return m.drops }

// ctlSpace is the control buffer of one datagram: room for the SO_RXQ_OVFL
// count (a uint32), and as much again for anything else the kernel adds.
var ctlSpace = 2 * unix.CmsgSpace(4)

// rxqOverflow finds the SO_RXQ_OVFL count in a datagram's control data
// without allocating.
func rxqOverflow(b []byte) (uint32, bool) {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		n := uint64(h.Len)
		if n < unix.SizeofCmsghdr || n > uint64(len(b)) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && n >= uint64(unix.CmsgLen(4)) {
			return *(*uint32)(unsafe.Pointer(&b[unix.CmsgLen(0)])), true
		}
		next := unix.CmsgSpace(int(n) - unix.CmsgLen(0))
		if next > len(b) {
			return 0, false
		}
		b = b[next:]
	}
	return 0, false
}

// countKernelDrops asks the kernel to report, with each datagram, how many
// it dropped for a full receive buffer (SO_RXQ_OVFL).
func countKernelDrops(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	})
}

// mmsg makes the raw recvmmsg or sendmmsg (trap) of hs through wait, the
// RawConn's Read or Write: when the socket is not ready (EAGAIN) the
// poller waits until it is.
func mmsg(wait func(func(fd uintptr) bool) error, trap uintptr, hs []mmsghdr) (int, syscall.Errno, error) {
	var n int
	var errno syscall.Errno
	err := wait(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall6(trap, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			}
			n, errno = int(r), e
			return true
		}
	})
	return n, errno, err
}

// source is the address recvmmsg wrote, in the form ReadFromUDPAddrPort
// gives: plain IPv4 on an IPv4 socket, IPv4-mapped on an IPv6 one.
func (m *mmsgConn) source(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		a := netip.AddrFrom4(s4.Addr)
		if !m.v4 {
			a = netip.AddrFrom16(a.As16())
		}
		return netip.AddrPortFrom(a, ntohs(s4.Port))
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if m.v4 {
			a = a.Unmap()
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// ntohs reads a port as the kernel stores it, in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(p uint16) uint16 {
	var r uint16
	b := (*[2]byte)(unsafe.Pointer(&r))
	b[0], b[1] = byte(p>>8), byte(p)
	return r
}

// write sends q, all or up to the first message that fails.
func (m *mmsgConn) write(q []outMsg) (int, error) {
	k := len(q)
	if len(m.wh) < k {
		m.wh, m.wiv, m.wsa = make([]mmsghdr, k), make([]unix.Iovec, k), make([]unix.RawSockaddrInet6, k)
	}
	for i, msg := range q {
		if msg.dst.Addr().Zone() != "" {
			// A scoped address needs its interface's index: rare enough
			// for the slow way.
			if i == 0 {
				if _, err := m.c.WriteToUDPAddrPort(msg.b, msg.dst); err != nil {
					return 0, err
				}
				return 1, nil
			}
			k = i
			break
		}
		m.wiv[i].Base = &msg.b[0]
		m.wiv[i].SetLen(len(msg.b))
		h := &m.wh[i].hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&m.wsa[i])), Iov: &m.wiv[i]}
		h.SetIovlen(1)
		if m.v4 {
			s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&m.wsa[i]))
			*s4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(msg.dst.Port()), Addr: msg.dst.Addr().Unmap().As4()}
			h.Namelen = unix.SizeofSockaddrInet4
		} else {
			m.wsa[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(msg.dst.Port()), Addr: msg.dst.Addr().As16()}
			h.Namelen = unix.SizeofSockaddrInet6
		}
	}
	n, errno, err := mmsg(m.rc.Write, unix.SYS_SENDMMSG, m.wh[:k])
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "sendmmsg", Net: "udp", Source: m.c.LocalAddr(), Err: errno}
	}
	if n == 0 && k > 0 {
		return 0, errors.New("sendmmsg sent nothing")
	}
	return n, nil
}
