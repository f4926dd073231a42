package main

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"layeh.com/radius"
)

// The batched engine drives the OTP and PAP modes from a few sockets, each
// served by one goroutine that keeps its share of the requests in flight,
// sends what it has to send in one sendmmsg and reads every reply waiting
// in one recvmmsg. One goroutine per in-flight request, each blocking on a
// socket of its own, costs the generator a system call and a wake-up per
// packet, and on a 2-core machine every microsecond the generator spends is
// taken from the server it measures.

// batchConn is what the engine needs of a socket (ipv4 and ipv6 both have it).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
	SetReadDeadline(t time.Time) error
}

// maxPerSocket is the most requests one socket keeps in flight: its
// Identifier space, less one so a late reply to a recycled Identifier is
// rare.
const maxPerSocket = 255

// flight is a request in flight on a socket, by Identifier.
type flight struct {
	busy   bool
	user   int
	req    []byte
	start  time.Time
	behind time.Duration // sent this much after its schedule (--rate)
}

// pacer is a socket's schedule under --rate: its k-th request is due at
// start + k/rate, whatever became of the ones before.
type pacer struct {
	start time.Time
	rate  float64 // requests per second
	sent  int64
}

// next is when the next request is due.
func (p *pacer) next() time.Time {
	return p.start.Add(time.Duration(float64(p.sent) / p.rate * float64(time.Second)))
}

// counters are the run's shared tallies.
type counters struct {
	sent, replies, timeouts atomic.Int64
}

// batchWorker is one socket of the batched engine.
type batchWorker struct {
	cfg   Config
	pop   *population
	conn  batchConn
	depth int // requests kept in flight
	n     *counters
	abort context.CancelCauseFunc
	pace  *pacer // nil: send when a place in flight is free

	flights [256]flight
	nextID  byte
	busy    int
	out     []outcome
}

// run sends and reads until the run is over and every request in flight is
// answered or timed out.
func (w *batchWorker) run(ctx context.Context) error {
	in := make([]ipv4.Message, w.depth)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, radius.MaxPacketLength)}
	}
	send := make([]ipv4.Message, 0, w.depth*w.cfg.Retransmit)
	c := newCoder()
	sending := true
	for {
		send = send[:0]
		var started []byte
		now := time.Now()
		for sending && w.busy < w.depth {
			var behind time.Duration
			if w.pace != nil {
				due := w.pace.next()
				if now.Before(due) {
					break
				}
				behind = now.Sub(due)
			}
			if ctx.Err() != nil || (w.cfg.Requests > 0 && w.n.sent.Add(1) > int64(w.cfg.Requests)) {
				sending = false
				break
			}
			u, pw, err := w.pop.take(ctx, c)
			if err != nil {
				sending = false
				break
			}
			id := w.freeID()
			req, err := buildRequest(w.cfg, id, UserName(w.cfg.FirstUser+u), pw)
			if err != nil {
				w.pop.done(u)
				return err
			}
			w.flights[id] = flight{busy: true, user: u, req: req, behind: behind}
			w.busy++
			if w.pace != nil {
				w.pace.sent++
			}
			started = append(started, id)
			for range w.cfg.Retransmit {
				send = append(send, ipv4.Message{Buffers: [][]byte{req}})
			}
		}
		now = time.Now()
		for _, id := range started {
			w.flights[id].start = now
		}
		if err := w.write(send); err != nil {
			return err
		}
		// With a place free, wake when the next request is due (--rate);
		// with none, only a reply (or a timeout) lets another go.
		var wake time.Time
		if sending && w.pace != nil && w.busy < w.depth {
			wake = w.pace.next()
		}
		if w.busy == 0 {
			if wake.IsZero() || ctx.Err() != nil {
				return nil
			}
			t := time.NewTimer(time.Until(wake))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		if err := w.read(in, wake); err != nil {
			return err
		}
	}
}

// freeID returns an Identifier with nothing in flight (there is one: at
// most maxPerSocket are).
func (w *batchWorker) freeID() byte {
	for w.flights[w.nextID].busy {
		w.nextID++
	}
	id := w.nextID
	w.nextID++
	return id
}

// write sends all of ms.
func (w *batchWorker) write(ms []ipv4.Message) error {
	for len(ms) > 0 {
		n, err := w.conn.WriteBatch(ms, 0)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // an ICMP error from an earlier datagram
			}
			return err
		}
		ms = ms[n:]
	}
	return nil
}

// read waits for replies until the oldest request's timeout or wake (if
// set), takes every reply queued, and times out what is overdue.
func (w *batchWorker) read(in []ipv4.Message, wake time.Time) error {
	oldest := time.Time{}
	for i := range w.flights {
		if f := &w.flights[i]; f.busy && (oldest.IsZero() || f.start.Before(oldest)) {
			oldest = f.start
		}
	}
	deadline := oldest.Add(w.cfg.Timeout)
	if !wake.IsZero() && wake.Before(deadline) {
		// A deadline already past would not even read the replies
		// waiting; give the read a moment.
		deadline = later(wake, time.Now().Add(minRead))
	}
	w.conn.SetReadDeadline(deadline)
	n, err := w.conn.ReadBatch(in, 0)
	now := time.Now()
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			w.expire(now)
			return nil
		case errors.Is(err, syscall.ECONNREFUSED):
			// ICMP port unreachable: no answer; do not spin on it.
			time.Sleep(time.Millisecond)
			w.expire(now)
			return nil
		default:
			return err
		}
	}
	secret := []byte(w.cfg.Secret)
	for _, m := range in[:n] {
		b := m.Buffers[0][:m.N]
		if len(b) < 20 {
			continue
		}
		f := &w.flights[b[1]]
		// Replies to earlier requests (late or duplicated) are skipped.
		if !f.busy || !radius.IsAuthenticResponse(b, f.req, secret) {
			continue
		}
		w.finish(f, outcome{code: radius.Code(b[0]), latency: now.Sub(f.start)})
	}
	w.expire(now)
	return nil
}

// minRead is the least time a read is given to take the replies waiting.
const minRead = 50 * time.Microsecond

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// expire ends the requests whose timeout has passed.
func (w *batchWorker) expire(now time.Time) {
	for i := range w.flights {
		if f := &w.flights[i]; f.busy && now.Sub(f.start) >= w.cfg.Timeout {
			w.finish(f, outcome{latency: w.cfg.Timeout})
		}
	}
}

func (w *batchWorker) finish(f *flight, o outcome) {
	o.behind = f.behind
	w.pop.done(f.user)
	*f = flight{}
	w.busy--
	w.out = append(w.out, o)
	if o.code != 0 {
		w.n.replies.Add(1)
	} else if w.n.timeouts.Add(1) >= deadServer && w.n.replies.Load() == 0 {
		w.abort(errNoReply(w.cfg))
	}
}

// dialBatch opens a socket to raddr for the batched engine.
func dialBatch(raddr *net.UDPAddr) (*net.UDPConn, batchConn, error) {
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, nil, err
	}
	// Room for a whole batch of replies (the default is ~200 KB).
	c.SetReadBuffer(4 << 20)
	if raddr.IP.To4() != nil {
		return c, ipv4.NewPacketConn(c), nil
	}
	return c, ipv6.NewPacketConn(c), nil
}
