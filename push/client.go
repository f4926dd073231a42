package push

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DeviceState is everything a device keeps after enrollment. It holds the
// seed and the signing key: store it like a password (0600).
type DeviceState struct {
	URL       string `json:"url"`
	Pin       string `json:"pin"`
	Serial    string `json:"serial"`
	User      string `json:"user"`
	Issuer    string `json:"issuer"`
	Algorithm string `json:"algorithm"`
	Digits    int    `json:"digits"`
	Period    int    `json:"period"`
	Seed      []byte `json:"seed"`
	SignKey   []byte `json:"sign_key"` // P-256 private scalar
}

// Client talks to the device API as a phone does.
type Client struct {
	State DeviceState
	HTTP  *http.Client
	Now   func() time.Time
}

// APIError is a refusal from the device API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("device API: %d %s", e.Status, e.Message) }

func httpClient(pin string) *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: PinnedTLS(pin),
		ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second}}
}

// Enroll activates the token of an enrollment URI on this device.
func Enroll(ctx context.Context, uri string, info DeviceInfo, apnsToken string) (*Client, error) {
	return EnrollWith(ctx, uri, info, apnsToken, nil)
}

// EnrollWith is Enroll with a web push subscription (instead of an APNs
// token), as a web app enrolls.
func EnrollWith(ctx context.Context, uri string, info DeviceInfo, apnsToken string, webPush *WebPushSubscription) (*Client, error) {
	e, err := ParseEnrollmentURI(uri)
	if err != nil {
		return nil, err
	}
	sign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signPub, err := sign.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &Client{HTTP: httpClient(e.Pin), Now: time.Now, State: DeviceState{URL: e.URL, Pin: e.Pin, Serial: e.Serial}}
	req := EnrollRequest{Serial: e.Serial, Code: e.Code, ECDHPublic: eph.PublicKey().Bytes(), SignPublic: signPub,
		APNsToken: apnsToken, WebPush: webPush, Device: info}
	body, _ := json.Marshal(req)
	var res EnrollResponse
	if err := c.do(ctx, PathEnroll, body, nil, &res); err != nil {
		return nil, err
	}
	seed, err := DeriveSeed(eph, res.ECDHPublic, e.Code, e.Serial, req.ECDHPublic, res.ECDHPublic)
	if err != nil {
		return nil, err
	}
	priv, err := sign.Bytes()
	if err != nil {
		return nil, err
	}
	c.State.User, c.State.Issuer = res.User, res.Issuer
	c.State.Algorithm, c.State.Digits, c.State.Period = res.Algorithm, res.Digits, res.Period
	c.State.Seed, c.State.SignKey = seed, priv
	return c, nil
}

// NewClient resumes a device from its state.
func NewClient(st DeviceState) *Client {
	return &Client{State: st, HTTP: httpClient(st.Pin), Now: time.Now}
}

func (c *Client) signed() Signed {
	return Signed{Serial: c.State.Serial, Time: c.Now().UnixMilli(), Nonce: randomID(16)}
}

// call signs body for path and decodes the answer into out.
func (c *Client) call(ctx context.Context, path string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), c.State.SignKey)
	if err != nil {
		return fmt.Errorf("push: device key: %w", err)
	}
	sig, err := Sign(key, path, body)
	if err != nil {
		return err
	}
	return c.do(ctx, path, body, sig, out)
}

// Raw sends body to path with the given signature (nil: unsigned); for
// tests of what the server refuses.
func (c *Client) Raw(ctx context.Context, path string, body, sig []byte) error {
	return c.do(ctx, path, body, sig, nil)
}

func (c *Client) do(ctx context.Context, path string, body, sig []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.State.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != nil {
		req.Header.Set(SignatureHeader, base64.StdEncoding.EncodeToString(sig))
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("push: device API: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		var e ErrorResponse
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(res.StatusCode)
		}
		return &APIError{Status: res.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("push: device API answer: %w", err)
	}
	return nil
}

// Pending lists the device's pending push requests.
func (c *Client) Pending(ctx context.Context) ([]PendingRequest, error) {
	var res PendingResponse
	err := c.call(ctx, PathPending, c.signed(), &res)
	return res.Requests, err
}

// Answer answers a push request; number is the pick with number matching.
func (c *Client) Answer(ctx context.Context, id, decision string, number int) (string, error) {
	var res map[string]string
	err := c.call(ctx, PathAnswer, AnswerRequest{Signed: c.signed(), ID: id, Decision: decision, Number: number}, &res)
	return res["result"], err
}

// SignedAnswer returns the body and signature of an answer without sending
// it (to test replays and forgeries).
func (c *Client) SignedAnswer(id, decision string, number int) (body, sig []byte, err error) {
	body, err = json.Marshal(AnswerRequest{Signed: c.signed(), ID: id, Decision: decision, Number: number})
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), c.State.SignKey)
	if err != nil {
		return nil, nil, err
	}
	sig, err = Sign(key, PathAnswer, body)
	return body, sig, err
}

// History returns the device's past push requests.
func (c *Client) History(ctx context.Context) ([]HistoryEntry, error) {
	var res HistoryResponse
	err := c.call(ctx, PathHistory, c.signed(), &res)
	return res.Entries, err
}

// Update tells the server a new APNs token (nil: unchanged) and device info.
func (c *Client) Update(ctx context.Context, apnsToken *string, info DeviceInfo) (string, error) {
	var res map[string]string
	err := c.call(ctx, PathDevice, DeviceUpdate{Signed: c.signed(), APNsToken: apnsToken, Device: info}, &res)
	return res["push_state"], err
}

// IsRefused reports whether err is an API refusal with status.
func IsRefused(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}
