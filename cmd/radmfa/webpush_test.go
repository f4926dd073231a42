package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/radmfa/radmfa/internal/geoiptest"
	"github.com/radmfa/radmfa/push"
)

// pushService is a push service of the test's own: it verifies each
// request's VAPID JWT and decrypts its RFC 8291 message with the
// subscription's keys, then answers with the next status (201 when none).
type pushService struct {
	srv      *httptest.Server
	ua       *ecdh.PrivateKey
	auth     []byte
	caFile   string
	mu       sync.Mutex
	statuses []int
	ids      chan string
	keys     []string // the VAPID keys the requests were signed with
	errs     []string
}

func newPushService(t *testing.T) *pushService {
	t.Helper()
	p := &pushService{auth: make([]byte, 16), ids: make(chan string, 16)}
	rand.Read(p.auth)
	p.ua, _ = ecdh.P256().GenerateKey(rand.Reader)
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		key, err := push.VerifyVAPID(r.Header.Get("Authorization"), "https://"+r.Host, time.Now())
		if err != nil {
			p.errs = append(p.errs, "vapid: "+err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		pt, err := push.DecryptWebPush(body, p.ua, p.auth)
		var m struct{ ID, Title string }
		if err == nil {
			err = json.Unmarshal(pt, &m)
		}
		if err != nil {
			p.errs = append(p.errs, "message: "+err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if strings.Contains(string(pt), "calling") || strings.Contains(string(pt), "203.0.113") {
			p.errs = append(p.errs, "the message carries the login's details: "+string(pt))
		}
		p.keys = append(p.keys, key)
		status := http.StatusCreated
		if len(p.statuses) > 0 {
			status, p.statuses = p.statuses[0], p.statuses[1:]
		}
		w.WriteHeader(status)
		p.ids <- m.ID
	}))
	t.Cleanup(p.srv.Close)
	p.caFile = filepath.Join(t.TempDir(), "push-ca.pem")
	os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}), 0o600)
	return p
}

func (p *pushService) subscription() *push.WebPushSubscription {
	var s push.WebPushSubscription
	s.Endpoint = p.srv.URL + "/sub/42"
	s.Keys.P256DH = base64.RawURLEncoding.EncodeToString(p.ua.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(p.auth)
	return &s
}

func (p *pushService) host() string { u, _ := url.Parse(p.srv.URL); return u.Host }

// A web app's push: the server sends it to the subscription's push
// service with VAPID and an encrypted message that holds only the
// request id; the app answers over the device API and the NAS gets the
// Accept. A subscription the push service says is gone is marked so, and
// the app polls.
func TestWebPushEndToEnd(t *testing.T) {
	ps := newPushService(t)
	e := newCLI(t)
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "wendy")
	srv := startPushServer(t, e, "--webpush-ca", ps.caFile, "--webpush-service", ps.host(), "--geoip-db", geoiptest.Write(t))
	m := enrollJSON(t, e, "wendy", "--type", "push")
	c, err := push.EnrollWith(context.Background(), m["activation_uri"], push.DeviceInfo{OS: "Web", OSVersion: "Chrome 156",
		Model: "PWA", AppVersion: "1", Notifications: true}, "", ps.subscription())
	if err != nil {
		t.Fatal(err)
	}
	n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	held := inBackground(func() string {
		p := n.exchange("wendy", "", fromStation("203.0.113.77"))
		return p.Code.String()
	})
	var id string
	select {
	case id = <-ps.ids:
	case <-time.After(10 * time.Second):
		t.Fatalf("no push reached the push service; its errors: %v", ps.errs)
	}
	if _, err := c.Answer(context.Background(), id, push.DecisionApprove, 0); err != nil {
		t.Fatal(err)
	}
	if got := held(); got != radius.CodeAccessAccept.String() {
		t.Fatalf("the push login: %s", got)
	}
	// The key the requests are signed with is the one web apps subscribe with.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	en, err := push.ParseEnrollmentURI(m["activation_uri"])
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(en.URL + push.PathWebPushKey)
	if err == nil {
		var k map[string]string
		json.NewDecoder(resp.Body).Decode(&k)
		resp.Body.Close()
		ps.mu.Lock()
		if k["public_key"] == "" || k["public_key"] != ps.keys[0] {
			t.Errorf("served VAPID key %q, requests signed with %q", k["public_key"], ps.keys[0])
		}
		ps.mu.Unlock()
	} else {
		t.Error(err)
	}

	// The push service has dropped the subscription.
	ps.mu.Lock()
	ps.statuses = []int{http.StatusGone}
	ps.mu.Unlock()
	heldGone := inBackground(func() string { return n.exchange("wendy", "", fromStation("203.0.113.77")).Code.String() })
	id = <-ps.ids
	waitFor(t, "the subscription marked gone", func() bool {
		return strings.Contains(e.ok("token", "show", m["serial"]), "web push (subscription gone: polling)")
	})
	// The app still gets the request by polling.
	pending, err := c.Pending(context.Background())
	if err != nil || len(pending) != 1 || pending[0].ID != id || pending[0].Location != "Berlin, Germany" {
		t.Fatalf("polling: %+v, %v", pending, err)
	}
	c.Answer(context.Background(), id, push.DecisionDeny, 0)
	if got := heldGone(); got != radius.CodeAccessReject.String() {
		t.Fatalf("denied: %s", got)
	}
	// Where the login came from is in the audit rows of the push and of
	// the login.
	if out := e.ok("audit", "--user", "wendy"); strings.Count(out, `location="Berlin, Germany"`) < 3 {
		t.Fatalf("audit:\n%s", out)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.errs) != 0 {
		t.Fatalf("push service: %v", ps.errs)
	}
}
