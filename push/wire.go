// Package push holds push logins: the pending requests a RADIUS login waits
// on, number matching, the providers that wake the phone (APNs, log, none:
// poll only), the device HTTPS API (enroll, pending, answer, history) and the
// wire format and cryptography the server and a device share.
package push

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
)

// SeedSize is the length of a push token's OTP seed (as for SHA-1 HOTP).
const SeedSize = 20

// SignatureHeader carries a device's ECDSA signature (base64, ASN.1) over
// SignedMessage of the request.
const SignatureHeader = "Radmfa-Signature"

// Decisions a device can send.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
	DecisionFraud   = "fraud" // deny and report fraud
)

// DeviceInfo is what a device says it is.
type DeviceInfo struct {
	OS            string `json:"os"`         // "iOS"
	OSVersion     string `json:"os_version"` // "18.1"
	Model         string `json:"model"`      // "iPhone15,2"
	AppVersion    string `json:"app_version"`
	Notifications bool   `json:"notifications"` // the user allowed notifications
}

// EnrollRequest activates a push token. The seed is derived on both sides
// from ECDH between ECDHPublic and the server's ephemeral key.
type EnrollRequest struct {
	Serial     string `json:"serial"`
	Code       string `json:"code"`
	ECDHPublic []byte `json:"ecdh_public"` // P-256, uncompressed point, ephemeral
	SignPublic []byte `json:"sign_public"` // P-256, uncompressed point: verifies every answer
	APNsToken  string `json:"apns_token,omitempty"`
	// WebPush is a web app's push subscription, instead of an APNs token.
	WebPush *WebPushSubscription `json:"web_push,omitempty"`
	Device  DeviceInfo           `json:"device"`
}

// EnrollResponse completes an enrollment.
type EnrollResponse struct {
	Serial     string `json:"serial"`
	User       string `json:"user"`
	Issuer     string `json:"issuer"`
	ECDHPublic []byte `json:"ecdh_public"` // the server's ephemeral key
	Algorithm  string `json:"algorithm"`
	Digits     int    `json:"digits"`
	Period     int    `json:"period"`
}

// Signed is the part of every signed device request: who, and when (Unix
// milliseconds, checked against the server's clock).
type Signed struct {
	Serial string `json:"serial"`
	Time   int64  `json:"time"`
	// Nonce is new for every request (16 to 64 characters): the server
	// remembers the nonces it saw within the clock window, so a signed
	// request is accepted once.
	Nonce string `json:"nonce"`
}

// AnswerRequest answers one push request.
type AnswerRequest struct {
	Signed
	ID       string `json:"id"`
	Decision string `json:"decision"`
	Number   int    `json:"number,omitempty"` // the number picked, with number matching
	// Assertion is the WebAuthn assertion (PublicKeyCredential.toJSON())
	// over ApprovalChallenge, when the request wants user verification.
	Assertion json.RawMessage `json:"assertion,omitempty"`
}

// ApprovalChallenge is the WebAuthn challenge of an approval: it binds the
// assertion to the request, the decision and the number picked. The
// request id is random and used once, so it needs no state of its own.
func ApprovalChallenge(id, decision string, number int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("radmfa approve v1\x00%s\x00%s\x00%d", id, decision, number)))
	return h[:]
}

// DeviceUpdate changes what the server knows of the device.
type DeviceUpdate struct {
	Signed
	APNsToken *string `json:"apns_token,omitempty"`
	// WebPush replaces the push subscription of a web app (after the
	// browser renewed it, or the old one was gone).
	WebPush *WebPushSubscription `json:"web_push,omitempty"`
	Device  DeviceInfo           `json:"device"`
}

// PendingRequest is a push request as the device sees it.
type PendingRequest struct {
	ID             string `json:"id"`
	User           string `json:"user"`
	Client         string `json:"client"`
	NASIdentifier  string `json:"nas_identifier,omitempty"`
	NASIPAddress   string `json:"nas_ip_address,omitempty"`
	CallingStation string `json:"calling_station,omitempty"`
	// Location is where the calling station is ("Berlin, Germany",
	// "private address", "unknown"), when the server knows.
	Location string `json:"location,omitempty"`
	// UserVerification: approving needs a WebAuthn assertion with user
	// verification (AnswerRequest.Assertion) over ApprovalChallenge.
	UserVerification bool  `json:"user_verification,omitempty"`
	Created          int64 `json:"created"` // Unix milliseconds
	Expires          int64 `json:"expires"`
	Numbers          []int `json:"numbers,omitempty"` // three choices with number matching
}

// PendingResponse lists a device's pending requests.
type PendingResponse struct {
	Requests []PendingRequest `json:"requests"`
}

// HistoryEntry is one past push request.
type HistoryEntry struct {
	Time    int64  `json:"time"` // Unix milliseconds
	Result  string `json:"result"`
	Details string `json:"details"`
}

// HistoryResponse is a device's push history, newest last.
type HistoryResponse struct {
	Entries []HistoryEntry `json:"entries"`
}

// ErrorResponse is the body of every refusal.
type ErrorResponse struct {
	Error string `json:"error"`
}

// SignedMessage is what a device signs for a request to path with body.
func SignedMessage(path string, body []byte) []byte {
	msg := make([]byte, 0, len(path)+len(body)+20)
	msg = append(msg, "radmfa-device-v1\n"...)
	msg = append(msg, path...)
	msg = append(msg, '\n')
	return append(msg, body...)
}

// Sign signs a request body for path with the device key.
func Sign(key *ecdsa.PrivateKey, path string, body []byte) ([]byte, error) {
	h := sha256.Sum256(SignedMessage(path, body))
	return ecdsa.SignASN1(rand.Reader, key, h[:])
}

// Verify checks a device signature with its public key (uncompressed
// point). The signature is ASN.1 DER (Go, iOS), or the 64 bytes r||s that
// WebCrypto makes (the web app).
func Verify(pub []byte, path string, body, sig []byte) bool {
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		return false
	}
	h := sha256.Sum256(SignedMessage(path, body))
	if ecdsa.VerifyASN1(k, h[:], sig) {
		return true
	}
	return len(sig) == 64 && ecdsa.Verify(k, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// DeriveSeed computes a push token's seed from the ECDH shared secret. The
// activation code salts it and the serial and both public keys bind it to
// this exchange, so only the two ends of this enrollment know it.
func DeriveSeed(priv *ecdh.PrivateKey, peer []byte, code, serial string, devicePub, serverPub []byte) ([]byte, error) {
	pk, err := ecdh.P256().NewPublicKey(peer)
	if err != nil {
		return nil, fmt.Errorf("push: ECDH public key: %w", err)
	}
	shared, err := priv.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("push: ECDH: %w", err)
	}
	salt := sha256.Sum256([]byte("radmfa activation\x00" + code))
	info := "radmfa push seed v1\x00" + serial + "\x00" + string(devicePub) + string(serverPub)
	return hkdf.Key(sha256.New, shared, salt[:], info, SeedSize)
}

// HashCode is how activation codes are kept: never the code itself.
func HashCode(code string) []byte {
	h := sha256.Sum256([]byte(strings.ToUpper(code)))
	return h[:]
}

// activationAlphabet has no look-alikes (0/O, 1/I/L).
const activationAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// NewActivationCode returns a random code of n characters (about 4.95 bits each).
func NewActivationCode(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = activationAlphabet[randIntn(len(activationAlphabet))]
	}
	return string(b)
}

// Enrollment is what an enrollment URI carries.
type Enrollment struct {
	URL    string // the device API, https://host:port
	Serial string
	Code   string
	Pin    string // "sha256/<base64url of the SHA-256 of the server key's SubjectPublicKeyInfo>"
	User   string
	Issuer string
}

// URIScheme is the scheme of enrollment URIs.
const URIScheme = "radmfa"

// URI renders the enrollment as radmfa://enroll?... for a QR code.
func (e Enrollment) URI() string {
	q := url.Values{}
	q.Set("v", "1")
	q.Set("url", e.URL)
	q.Set("serial", e.Serial)
	q.Set("code", e.Code)
	if e.Pin != "" {
		q.Set("pin", e.Pin)
	}
	q.Set("user", e.User)
	q.Set("issuer", e.Issuer)
	return URIScheme + "://enroll?" + q.Encode()
}

// ParseEnrollmentURI reads an enrollment URI.
func ParseEnrollmentURI(s string) (Enrollment, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Enrollment{}, fmt.Errorf("push: enrollment URI: %w", err)
	}
	if u.Scheme != URIScheme || u.Host != "enroll" {
		return Enrollment{}, errors.New("push: not a radmfa enrollment URI: want radmfa://enroll")
	}
	q := u.Query()
	if v := q.Get("v"); v != "1" {
		return Enrollment{}, fmt.Errorf("push: enrollment URI version %q not supported", v)
	}
	e := Enrollment{URL: q.Get("url"), Serial: q.Get("serial"), Code: q.Get("code"), Pin: q.Get("pin"),
		User: q.Get("user"), Issuer: q.Get("issuer")}
	api, err := url.Parse(e.URL)
	if err != nil || api.Scheme != "https" || api.Host == "" {
		return Enrollment{}, fmt.Errorf("push: enrollment URI: device API URL %q is not https://host", e.URL)
	}
	if e.Serial == "" || e.Code == "" {
		return Enrollment{}, errors.New("push: enrollment URI lacks serial or code")
	}
	if e.Pin != "" && !strings.HasPrefix(e.Pin, "sha256/") {
		return Enrollment{}, fmt.Errorf("push: enrollment URI: pin %q does not start with sha256/", e.Pin)
	}
	return e, nil
}
