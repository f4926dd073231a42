package store

import (
	"errors"
	"time"
)

// ErrActivation refuses an enrollment: no activation pending, expired, or
// a wrong code. Callers show one message for all three.
var ErrActivation = errors.New("activation code invalid or expired")

// Push states shown for a token's device (the vendor's vocabulary).
const (
	PushEnabled       = "Enabled"        // notifications allowed and deliverable
	PushDisabled      = "Disabled"       // push-capable, but not allowed (or APNs refused the device)
	PushNotApplicable = "Not Applicable" // no push device
)

// Activation is the pending enrollment of a push token.
type Activation struct {
	Serial    string
	CodeHash  []byte // SHA-256 of the activation code
	ExpiresAt time.Time
}

// Device is the phone a push token is bound to.
type Device struct {
	Serial string
	User   string
	// TokenState is the state of the push token the device is bound to.
	TokenState TokenState
	// PublicKey is the device's P-256 key (uncompressed point); every
	// answer it gives is signed with the private half.
	PublicKey []byte
	// APNsToken is where notifications go; empty for a poll-only device.
	APNsToken string
	// APNsInvalid: APNs said the token is unregistered or bad.
	APNsInvalid   bool
	OS            string // "Target": iOS, Android, ...
	OSVersion     string
	Model         string // "Device Type"
	AppVersion    string
	Notifications bool // the user allowed notifications
	EnrolledAt    time.Time
	LastSeen      time.Time
	// WebAuthn is the device owner's WebAuthn credential (go-webauthn's
	// Credential as JSON): with user verification required, every
	// approval carries an assertion of it.
	WebAuthn []byte
}

// PushState is the Push OTP state an administrator sees.
func (d Device) PushState() string {
	switch {
	case d.PublicKey == nil:
		return PushNotApplicable
	case d.Notifications && !d.APNsInvalid:
		return PushEnabled
	}
	return PushDisabled
}

// Notifiable reports whether notifications can be sent to the device.
func (d Device) Notifiable() bool {
	return d.Notifications && d.APNsToken != "" && !d.APNsInvalid
}

// PushRequest is a push request as instances share it (store/postgres):
// the instance that holds the RADIUS request waits on it, and the phone's
// answer may reach any instance.
type PushRequest struct {
	ID             string
	Serial         string
	User           string
	Client         string
	NASIdentifier  string
	NASIPAddress   string
	CallingStation string
	Location       string // where CallingStation is (geoip), or ""
	RequireUV      bool   // an approval needs the device owner's WebAuthn assertion
	Number         int
	Choices        []int
	State          []byte
	Created        time.Time
	Expires        time.Time
	// Outcome is "pending" until the request ends, then how it ended
	// (approved, denied, fraud, wrong_number, expired, canceled).
	Outcome string
}
