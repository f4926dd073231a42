package radius

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
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
	onError func(error)
	calls   atomic.Int64 // send system calls made (for tests)

	mu       sync.Mutex
	queue    []outMsg
	flushing bool

	sendMu sync.Mutex // one send at a time: d reuses its buffers
	d      datagrams
}

func newBatchConn(c *net.UDPConn, onError func(error)) *batchConn {
	return &batchConn{conn: c, onError: onError, d: newDatagrams(c)}
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
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	for len(q) > 0 {
		w.calls.Add(1)
		sent, err := w.d.write(q[:min(len(q), writeBatch)])
		if err != nil {
			// The message after those sent failed; count it and go on
			// with the rest.
			w.onError(err)
			sent++
		}
		q = q[sent:]
	}
}
