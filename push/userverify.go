package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/radmfa/radmfa/store"
)

// ErrUserVerification refuses an approval that does not carry a valid
// assertion of the device owner's WebAuthn credential, where the request
// wants one.
var ErrUserVerification = errors.New("push: this approval needs the device owner's verification (WebAuthn with user verification)")

// UserVerifier gates approvals by the device owner (the seeds' "Enhanced
// Approval Workflow", a biometric or screen-lock check): the web app
// registers a WebAuthn credential with user verification at enrollment,
// and every approval of a request that wants it carries an assertion over
// ApprovalChallenge, verified here with github.com/go-webauthn/webauthn
// (attestation and assertion parsing and checks are easy to get subtly
// wrong; the library is the reference Go implementation).
type UserVerifier struct {
	wa  *webauthn.WebAuthn
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]webauthn.SessionData // registrations begun, by serial
}

// registrationTTL bounds a registration between its two requests.
const registrationTTL = 5 * time.Minute

// NewUserVerifier makes a verifier for the web app at publicURL (the
// relying party is its host).
func NewUserVerifier(publicURL, name string, now func() time.Time) (*UserVerifier, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("push: user verification: public URL %q", publicURL)
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: name, RPOrigins: []string{u.Scheme + "://" + u.Host}})
	if err != nil {
		return nil, fmt.Errorf("push: user verification: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &UserVerifier{wa: wa, now: now, sessions: map[string]webauthn.SessionData{}}, nil
}

// owner is a device's owner as WebAuthn sees them.
type owner struct {
	d     store.Device
	creds []webauthn.Credential
}

func (o owner) WebAuthnID() []byte                         { return []byte(o.d.Serial) }
func (o owner) WebAuthnName() string                       { return o.d.User }
func (o owner) WebAuthnDisplayName() string                { return o.d.User }
func (o owner) WebAuthnCredentials() []webauthn.Credential { return o.creds }

func ownerOf(d store.Device) (owner, error) {
	o := owner{d: d}
	if len(d.WebAuthn) > 0 {
		var c webauthn.Credential
		if err := json.Unmarshal(d.WebAuthn, &c); err != nil {
			return o, fmt.Errorf("push: stored WebAuthn credential: %w", err)
		}
		o.creds = []webauthn.Credential{c}
	}
	return o, nil
}

// BeginRegistration returns the options of a credential creation for
// the device's owner (a platform authenticator, user verification
// required).
func (v *UserVerifier) BeginRegistration(d store.Device) (*protocol.CredentialCreation, error) {
	o, err := ownerOf(d)
	if err != nil {
		return nil, err
	}
	opts, session, err := v.wa.BeginRegistration(o,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{AuthenticatorAttachment: protocol.Platform,
			ResidentKey: protocol.ResidentKeyRequirementDiscouraged, UserVerification: protocol.VerificationRequired}))
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	for k, s := range v.sessions {
		if now.After(s.Expires) {
			delete(v.sessions, k)
		}
	}
	session.Expires = now.Add(registrationTTL)
	v.sessions[d.Serial] = *session
	return opts, nil
}

// FinishRegistration checks a credential creation response for the
// registration begun for the device, and returns the credential to store.
func (v *UserVerifier) FinishRegistration(d store.Device, response []byte) ([]byte, error) {
	v.mu.Lock()
	session, ok := v.sessions[d.Serial]
	delete(v.sessions, d.Serial)
	v.mu.Unlock()
	if !ok || v.now().After(session.Expires) {
		return nil, errors.New("push: no registration begun for this device (or it expired)")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("push: WebAuthn registration: %w", err)
	}
	o, err := ownerOf(d)
	if err != nil {
		return nil, err
	}
	cred, err := v.wa.CreateCredential(o, session, parsed)
	if err != nil {
		return nil, fmt.Errorf("push: WebAuthn registration: %w", err)
	}
	if !cred.Flags.UserVerified {
		return nil, errors.New("push: WebAuthn registration without user verification")
	}
	return json.Marshal(cred)
}

// VerifyApproval checks an approval's assertion: by the device's
// credential, with user verification, over the approval's challenge. It
// returns the credential with its new signature count, to store.
func (v *UserVerifier) VerifyApproval(d store.Device, r *Request, decision string, number int, assertion []byte) ([]byte, error) {
	o, err := ownerOf(d)
	if err != nil {
		return nil, err
	}
	if len(o.creds) == 0 {
		return nil, fmt.Errorf("%w: this device registered no WebAuthn credential; enroll it again on a device with a screen lock", ErrUserVerification)
	}
	if len(assertion) == 0 {
		return nil, fmt.Errorf("%w: the approval carries no assertion", ErrUserVerification)
	}
	_, session, err := v.wa.BeginLogin(o, webauthn.WithChallenge(ApprovalChallenge(r.ID, decision, number)),
		webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(assertion)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUserVerification, err)
	}
	cred, err := v.wa.ValidateLogin(o, *session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUserVerification, err)
	}
	if !cred.Flags.UserVerified {
		return nil, fmt.Errorf("%w: the authenticator did not verify the user", ErrUserVerification)
	}
	return json.Marshal(cred)
}
