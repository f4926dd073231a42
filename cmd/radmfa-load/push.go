package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/radmfa/radmfa/push"
)

// phones are the in-process devices of push mode: one per user, sharing
// one HTTP/2 connection pool to the device API.
type phones struct {
	cfg  Config
	http *http.Client
	mu   sync.Mutex
	m    map[int]*push.Client
}

func newPhones(cfg Config) (*phones, error) {
	url, pin := cfg.DeviceAPI, cfg.DevicePin
	if url == "" && cfg.DataDir != "" {
		st, err := openStore(cfg.DataDir, "")
		if err != nil {
			return nil, err
		}
		url, _ = st.Setting(context.Background(), "push.public_url")
		if pin == "" {
			pin, _ = st.Setting(context.Background(), "push.cert_pin")
		}
		st.Close()
	}
	if url == "" {
		return nil, errors.New("push: give --device-api (and --device-pin) or --data-dir of a server that announced them")
	}
	tr := &http.Transport{TLSClientConfig: push.PinnedTLS(pin), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	cfg.DeviceAPI, cfg.DevicePin = url, pin
	return &phones{cfg: cfg, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, m: map[int]*push.Client{}}, nil
}

func (p *phones) get(u int) (*push.Client, error) {
	u += p.cfg.FirstUser
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.m[u]; c != nil {
		return c, nil
	}
	key, err := DeviceKey(u)
	if err != nil {
		return nil, err
	}
	raw, err := key.Bytes()
	if err != nil {
		return nil, err
	}
	c := push.NewClient(push.DeviceState{URL: p.cfg.DeviceAPI, Pin: p.cfg.DevicePin, Serial: fmt.Sprintf("BENCH-%08d", u), SignKey: raw})
	c.HTTP = p.http
	p.m[u] = c
	return c, nil
}

// approve waits ApproveAfter, finds user u's pending push and approves it;
// it returns when the answer was sent (zero time: it was not).
func (p *phones) approve(ctx context.Context, u int) time.Time {
	c, err := p.get(u)
	if err != nil {
		return time.Time{}
	}
	wait := p.cfg.ApproveAfter
	if p.cfg.ApproveSpread > 0 {
		wait += time.Duration(mrand.Int64N(int64(p.cfg.ApproveSpread)))
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return time.Time{}
	}
	for ctx.Err() == nil {
		reqs, err := c.Pending(ctx)
		if err == nil && len(reqs) > 0 {
			at := time.Now()
			if _, err := c.Answer(ctx, reqs[0].ID, push.DecisionApprove, 0); err != nil {
				return time.Time{}
			}
			return at
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return time.Time{}
}

// serverProbe samples the server's resident memory and metrics.
type serverProbe struct {
	pid     int
	metrics string
}

// rss returns the resident set size of the server in bytes (0: unknown).
func (s serverProbe) rss() int64 {
	if s.pid <= 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// metric reads one sample from the server's /metrics (-1: unknown).
func (s serverProbe) metric(name string) float64 {
	if s.metrics == "" {
		return -1
	}
	resp, err := http.Get(s.metrics)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return 0
}

// peak follows the largest number of pending pushes and the memory then.
type peak struct {
	mu      sync.Mutex
	pending float64
	rss     int64
}

func (s serverProbe) watch(ctx context.Context, pk *peak) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		n := s.metric("radmfa_push_pending")
		r := s.rss()
		pk.mu.Lock()
		if n > pk.pending || (n == pk.pending && r > pk.rss) {
			pk.pending, pk.rss = n, r
		}
		pk.mu.Unlock()
	}
}
