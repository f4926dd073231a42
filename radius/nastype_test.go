package radius

import (
	"context"
	"net/netip"
	"sync"
	"testing"

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
