package push

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/payload"
	"github.com/sideshow/apns2/token"
)

// LogProvider "delivers" notifications to the log, for development.
type LogProvider struct{ Logger *slog.Logger }

// Notify logs n (it carries no secret).
func (p LogProvider) Notify(_ context.Context, n Notification) error {
	p.Logger.Info("push: notification (log provider)", "id", n.ID, "title", n.Title, "expires", n.Expires.Format(time.RFC3339))
	return nil
}

// APNsConfig configures the APNs provider with token (.p8) authentication.
type APNsConfig struct {
	KeyFile string // the .p8 key from Apple
	KeyID   string
	TeamID  string
	Topic   string // the app's bundle id
	Sandbox bool   // the development environment
	// Host overrides the APNs host and TLS its TLS settings (tests).
	Host string
	TLS  *tls.Config
	// Backoff is the first retry delay (default 250ms), doubling up to 5s.
	Backoff time.Duration
}

// APNs delivers notifications through Apple's push service.
type APNs struct {
	client  *apns2.Client
	topic   string
	backoff time.Duration
	log     *slog.Logger
}

// NewAPNs makes an APNs provider.
func NewAPNs(c APNsConfig, log *slog.Logger) (*APNs, error) {
	if c.KeyFile == "" || c.KeyID == "" || c.TeamID == "" || c.Topic == "" {
		return nil, errors.New("push: APNs needs a key file, key id, team id and topic")
	}
	key, err := token.AuthKeyFromFile(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("push: APNs key %s: %w", c.KeyFile, err)
	}
	client := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: c.KeyID, TeamID: c.TeamID})
	if c.Sandbox {
		client.Development()
	} else {
		client.Production()
	}
	if c.Host != "" {
		client.Host = c.Host
	}
	if c.TLS != nil {
		client.HTTPClient.Transport = &http.Transport{TLSClientConfig: c.TLS, ForceAttemptHTTP2: true}
	}
	client.HTTPClient.Timeout = 10 * time.Second
	if c.Backoff <= 0 {
		c.Backoff = 250 * time.Millisecond
	}
	if log == nil {
		log = slog.Default()
	}
	return &APNs{client: client, topic: c.Topic, backoff: c.Backoff, log: log}, nil
}

// Notify sends n, retrying 429, 5xx and transport errors with backoff
// until ctx ends. 410 Unregistered and 400 BadDeviceToken /
// DeviceTokenNotForTopic mean the device token is gone (ErrDeviceGone);
// other refusals are not retried.
func (p *APNs) Notify(ctx context.Context, n Notification) error {
	pl := payload.NewPayload().AlertTitle(n.Title).AlertBody(n.Body).Sound("default").
		Category("RADMFA_LOGIN").MutableContent().Custom("rid", n.ID)
	note := &apns2.Notification{DeviceToken: n.DeviceToken, Topic: p.topic, Payload: pl, Expiration: n.Expires,
		Priority: apns2.PriorityHigh, PushType: apns2.PushTypeAlert, CollapseID: n.ID}
	delay := p.backoff
	for attempt := 1; ; attempt++ {
		res, err := p.client.PushWithContext(ctx, note)
		retry := false
		switch {
		case err != nil:
			retry = true
		case res.StatusCode == http.StatusOK:
			return nil
		case res.StatusCode == http.StatusGone, res.Reason == apns2.ReasonBadDeviceToken, res.Reason == apns2.ReasonDeviceTokenNotForTopic:
			return fmt.Errorf("%w: APNs %d %s", ErrDeviceGone, res.StatusCode, res.Reason)
		case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
			retry = true
			err = fmt.Errorf("APNs %d %s", res.StatusCode, res.Reason)
		default:
			return fmt.Errorf("push: APNs refused the notification: %d %s", res.StatusCode, res.Reason)
		}
		if !retry {
			return err
		}
		p.log.Debug("push: APNs attempt failed; retrying", "id", n.ID, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("push: APNs: gave up after %d attempts: %w", attempt, err)
		case <-n.Done:
			return fmt.Errorf("push: APNs: request answered before delivery: %w", err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
