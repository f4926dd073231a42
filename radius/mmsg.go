package radius

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// datagrams reads and writes many datagrams per system call (recvmmsg,
// sendmmsg): under load requests arrive in bursts, and on a virtual
// machine every system call costs a microsecond or more. newDatagrams
// gives the raw-call version on Linux (mmsg_linux.go), x/net's elsewhere.
type datagrams interface {
	// read waits for datagrams and reads up to len(bufs) of them:
	// datagram i into bufs[i], its length in ns[i], its source in srcs[i]
	// (plain IPv4 on an IPv4 socket, IPv4-mapped on an IPv6 one).
	read(bufs [][]byte, ns []int, srcs []netip.AddrPort) (int, error)
	// write sends q in order and returns how many it sent; when that is
	// fewer than all, the error is the next one's.
	write(q []outMsg) (int, error)
	// kernelDrops is the socket's count of datagrams the kernel dropped
	// for a full receive buffer, as of the last read (0 where unknown).
	kernelDrops() uint64
}

// outMsg is a datagram to send.
type outMsg struct {
	b   []byte
	dst netip.AddrPort
}

// isV4 reports whether c is an IPv4 socket (an IPv6 one may be dual-stack).
func isV4(c *net.UDPConn) bool {
	la, ok := c.LocalAddr().(*net.UDPAddr)
	return ok && la.IP.To4() != nil
}

// portableDatagrams is datagrams through x/net's ReadBatch and WriteBatch.
type portableDatagrams struct {
	bio interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}
	v4     bool
	rms    []ipv4.Message
	wms    []ipv4.Message
	wbufs  [][1][]byte
	waddrs []net.UDPAddr
}

func newPortableDatagrams(c *net.UDPConn) *portableDatagrams {
	d := &portableDatagrams{v4: isV4(c)}
	if d.v4 {
		d.bio = ipv4.NewPacketConn(c)
	} else {
		d.bio = ipv6.NewPacketConn(c)
	}
	return d
}

func (d *portableDatagrams) read(bufs [][]byte, ns []int, srcs []netip.AddrPort) (int, error) {
	if len(d.rms) < len(bufs) {
		d.rms = make([]ipv4.Message, len(bufs))
	}
	ms := d.rms[:len(bufs)]
	for i, b := range bufs {
		ms[i].Buffers = bufs[i : i+1 : i+1]
		_ = b
	}
	n, err := d.bio.ReadBatch(ms, 0)
	if err != nil {
		return 0, err
	}
	for i := range ms[:n] {
		ns[i] = ms[i].N
		srcs[i] = netip.AddrPort{}
		if ua, ok := ms[i].Addr.(*net.UDPAddr); ok {
			src := ua.AddrPort()
			switch a := src.Addr(); {
			case d.v4:
				src = netip.AddrPortFrom(a.Unmap(), src.Port())
			case a.Is4():
				src = netip.AddrPortFrom(netip.AddrFrom16(a.As16()), src.Port())
			}
			srcs[i] = src
		}
	}
	return n, nil
}

func (d *portableDatagrams) write(q []outMsg) (int, error) {
	if len(d.wms) < len(q) {
		d.wms, d.wbufs, d.waddrs = make([]ipv4.Message, len(q)), make([][1][]byte, len(q)), make([]net.UDPAddr, len(q))
	}
	ms := d.wms[:len(q)]
	for i, m := range q {
		a := m.dst.Addr()
		if d.v4 {
			a = a.Unmap()
		}
		d.waddrs[i] = net.UDPAddr{IP: a.AsSlice(), Port: int(m.dst.Port()), Zone: a.Zone()}
		d.wbufs[i][0] = m.b
		ms[i].Buffers, ms[i].Addr = d.wbufs[i][:], &d.waddrs[i]
	}
	n, err := d.bio.WriteBatch(ms, 0)
	for i := range q {
		d.wbufs[i][0] = nil // do not keep replies alive
	}
	return max(n, 0), err
}

func (p *portableDatagrams) kernelDrops() uint64 { return 0 }
