package radius

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// writeBatch is the most replies one sendmmsg carries.
const writeBatch = 64

// batchConn is a PacketConn that sends replies in batches (sendmmsg). A
// group commit wakes the requests of one SQLite transaction together;
// their replies are ready within microseconds of each other, and one
// system call for all of them costs a fraction of one per reply (a null
// system call alone costs about a microsecond on a virtual machine).
//
// WriteToUDPAddrPort queues the reply. The first writer to find no flush
// pending yields the processor once, so the other woken requests queue
// their replies, then sends everything queued. Every reply is thus sent by
// a goroutine that has not yet returned from WriteToUDPAddrPort, so a
// caller that waits for its request goroutines also waits for their
// replies to leave. A failed send is counted by onError; the caller has
// already been told the reply was written.
type batchConn struct {
	conn    *net.UDPConn
	bio     batchIO
	v4      bool
	onError func(error)
	calls   atomic.Int64 // send system calls made (for tests)

	mu       sync.Mutex
	queue    []outMsg
	flushing bool
	bufs     sync.Pool // *flushBuf
}

type outMsg struct {
	b   []byte
	dst netip.AddrPort
}

// flushBuf is one flush's messages, with the addresses they point to
// allocated once.
type flushBuf struct {
	ms    []ipv4.Message
	addrs []net.UDPAddr
	ips   [][16]byte
	bufs  [][][]byte
}

func newBatchConn(c *net.UDPConn, onError func(error)) *batchConn {
	w := &batchConn{conn: c, onError: onError}
	w.bio, w.v4 = batchIOFor(c)
	w.bufs.New = func() any {
		f := &flushBuf{ms: make([]ipv4.Message, writeBatch), addrs: make([]net.UDPAddr, writeBatch),
			ips: make([][16]byte, writeBatch), bufs: make([][][]byte, writeBatch)}
		for i := range f.ms {
			f.bufs[i] = make([][]byte, 1)
			f.ms[i].Buffers = f.bufs[i]
			f.ms[i].Addr = &f.addrs[i]
		}
		return f
	}
	return w
}

// WriteToUDPAddrPort queues b for dst; see batchConn. b must not change
// afterwards.
func (w *batchConn) WriteToUDPAddrPort(b []byte, dst netip.AddrPort) (int, error) {
	w.mu.Lock()
	w.queue = append(w.queue, outMsg{b: b, dst: dst})
	if w.flushing {
		w.mu.Unlock()
		return len(b), nil
	}
	w.flushing = true
	w.mu.Unlock()

	runtime.Gosched()

	w.mu.Lock()
	q := w.queue
	w.queue = nil
	w.flushing = false
	w.mu.Unlock()
	w.send(q)
	return len(b), nil
}

// send writes q in batches of at most writeBatch.
func (w *batchConn) send(q []outMsg) {
	if len(q) == 1 {
		w.calls.Add(1)
		if _, err := w.conn.WriteToUDPAddrPort(q[0].b, q[0].dst); err != nil {
			w.onError(err)
		}
		return
	}
	f := w.bufs.Get().(*flushBuf)
	defer w.bufs.Put(f)
	for len(q) > 0 {
		n := min(len(q), writeBatch)
		for i, m := range q[:n] {
			a := m.dst.Addr()
			ip := f.ips[i][:]
			if w.v4 {
				a4 := a.Unmap().As4()
				ip = ip[:copy(ip, a4[:])]
			} else {
				a16 := a.As16()
				copy(ip, a16[:])
			}
			f.addrs[i].IP = ip
			f.addrs[i].Port = int(m.dst.Port())
			f.addrs[i].Zone = a.Zone()
			f.bufs[i][0] = m.b
		}
		ms := f.ms[:n]
		for len(ms) > 0 {
			w.calls.Add(1)
			sent, err := w.bio.WriteBatch(ms, 0)
			if err != nil {
				// The message at the head failed; count it and go on
				// with the rest.
				w.onError(err)
				sent = max(sent, 0) + 1
			}
			ms = ms[sent:]
		}
		for i := range n {
			f.bufs[i][0] = nil // do not keep replies alive in the pool
		}
		q = q[n:]
	}
}
