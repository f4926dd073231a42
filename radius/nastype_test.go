package radius

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/radmfa/radmfa/auth"
)

// captureAuth records the requests it decides (and rejects them).
type captureAuth struct {
	mu   sync.Mutex
	reqs []auth.Request
}

func (c *captureAuth) Authenticate(_ context.Context, r auth.Request) auth.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, r)
	return auth.Result{}
}

// A NAS that cannot show an Access-Challenge (OpenVPN's plugin,
// pam_radius) gets no number matching, whatever the client's setting:
// the number would come in a challenge it takes for a refusal.
func TestNumberMatchingOnlyWhereChallengesShow(t *testing.T) {
	tests := []struct {
		nasType, setting, want string
	}{
		{"fortigate", "on", "on"},
		{"fortigate", "", ""},
		{"openvpn", "on", "off"},
		{"OpenVPN", "", "off"},
		{"pam_radius", "on", "off"},
	}
	for _, tc := range tests {
		t.Run(tc.nasType+"/"+tc.setting, func(t *testing.T) {
			tab := NewTable([]Client{{Name: "nas", Prefix: netip.MustParsePrefix("127.0.0.1/32"), Secret: secret,
				NASType: tc.nasType, NumberMatching: tc.setting}}, nil)
			a := &captureAuth{}
			srv, err := NewServer(context.Background(), Deps{Auth: a, Source: staticSource{tab}})
			if err != nil {
				t.Fatal(err)
			}
			srv.HandlePacket(&fakeConn{}, request(t, "u", "", true, nil), netip.MustParseAddrPort("127.0.0.1:40000"))
			srv.wg.Wait()
			if len(a.reqs) != 1 || a.reqs[0].NumberMatching != tc.want {
				t.Fatalf("requests %+v, want number matching %q", a.reqs, tc.want)
			}
		})
	}
}

func TestClientDeadline(t *testing.T) {
	tests := []struct {
		name    string
		c       Client
		total   time.Duration
		answer  time.Duration // AnswerBy after the start
		timeout time.Duration
		retries int
	}{
		{"unknown NAS: 5 s x 3 tries", Client{}, 15 * time.Second, 13500 * time.Millisecond, 5 * time.Second, 2},
		{"fortigate's 5 s", Client{NASType: "FortiGate"}, 5 * time.Second, 4500 * time.Millisecond, 5 * time.Second, 0},
		{"paloalto 3 s x 4", Client{NASType: "paloalto"}, 12 * time.Second, 10800 * time.Millisecond, 3 * time.Second, 3},
		{"given timeout and retries", Client{NASType: "fortigate", NASTimeout: 2 * time.Second, NASRetries: 2}, 6 * time.Second, 5400 * time.Millisecond, 2 * time.Second, 2},
		{"retries alone", Client{NASType: "asa", NASRetries: 1}, 20 * time.Second, 18 * time.Second, 10 * time.Second, 1},
		{"margin at least 250 ms", Client{NASTimeout: time.Second}, time.Second, 750 * time.Millisecond, time.Second, 0},
		{"margin at most 2 s", Client{NASTimeout: 30 * time.Second, NASRetries: 1}, time.Minute, 58 * time.Second, 30 * time.Second, 1},
	}
	start := time.Unix(1_800_000_000, 0)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total, timeout, retries := tc.c.Deadline()
			if total != tc.total || timeout != tc.timeout || retries != tc.retries {
				t.Fatalf("Deadline() = %v, %v, %d", total, timeout, retries)
			}
			if got := tc.c.AnswerBy(start).Sub(start); got != tc.answer {
				t.Fatalf("AnswerBy = start + %v, want + %v", got, tc.answer)
			}
		})
	}
}
