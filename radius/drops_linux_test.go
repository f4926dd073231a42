//go:build linux

package radius

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Datagrams the kernel drops because the receive buffer is full are
// counted: a socket with a small buffer, 2,000 datagrams sent to it
// before it reads; the kernel stamps each datagram with the count as of
// its arrival, so the first one to arrive after the queue drained
// reports the drops.
func TestKernelDropsCounted(t *testing.T) {
	conns, err := Listen([]string{"127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	c := conns[0]
	defer c.Close()
	if err := c.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	out, err := net.DialUDP("udp", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	msg := make([]byte, 200)
	for range 2000 {
		out.Write(msg) // loopback delivers (or drops) at once
	}
	d := newDatagrams(c)
	bufs := [][]byte{make([]byte, 4097), make([]byte, 4097)}
	ns, srcs := make([]int, 2), make([]netip.AddrPort, 2)
	queued := 0
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		n, err := d.read(bufs, ns, srcs)
		if err != nil {
			break // drained: the deadline passed with nothing to read
		}
		queued += n
	}
	if queued == 0 || queued >= 2000 {
		t.Fatalf("%d datagrams were queued; the test wants some, and some dropped", queued)
	}
	c.SetReadDeadline(time.Time{})
	out.Write(msg)
	if _, err := d.read(bufs, ns, srcs); err != nil {
		t.Fatal(err)
	}
	if d.kernelDrops() != uint64(2000-queued) {
		t.Fatalf("%d kernel drops reported, want %d (2000 sent, %d read)", d.kernelDrops(), 2000-queued, queued)
	}
	if d.kernelDrops() == 0 {
		t.Fatal("no kernel drops reported after overflowing a 4 KiB receive buffer")
	}
	t.Logf("%d datagrams dropped by the kernel", d.kernelDrops())
}

func TestRxqOverflowParse(t *testing.T) {
	put := func(level, typ int32, v uint32) []byte {
		b := make([]byte, 64)
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.SetLen(unix.CmsgLen(4))
		h.Level, h.Type = level, typ
		binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], v)
		return b[:unix.CmsgSpace(4)]
	}
	tests := []struct {
		name string
		b    []byte
		want uint32
		ok   bool
	}{
		{"the count", put(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 17), 17, true},
		{"another message", put(unix.SOL_SOCKET, unix.SO_RXQ_OVFL+1, 17), 0, false},
		{"truncated", put(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 17)[:unix.CmsgLen(0)], 0, false},
		{"empty", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rxqOverflow(tc.b)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("rxqOverflow = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
