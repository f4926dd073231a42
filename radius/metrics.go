package radius

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/radmfa/radmfa/auth"
)

// Drop reasons, the label of radmfa_radius_drops_total.
const (
	DropMalformed       = "malformed"
	DropUnknownClient   = "unknown_client"
	DropUnsupportedCode = "unsupported_code"
	DropBadMA           = "bad_message_authenticator"
	DropMissingMA       = "missing_message_authenticator"
	// DropProxyStateNoMA: Proxy-State without Message-Authenticator from a
	// client that does not require it, the shape of a BlastRADIUS forgery
	// (CVE-2024-3596), as FreeRADIUS's limit_proxy_state drops it.
	DropProxyStateNoMA = "proxy_state_without_message_authenticator"
	DropOverloaded     = "overloaded"
	DropShutdown       = "shutting_down"
	DropSendFailed     = "send_failed"
	// DropKernel counts datagrams the kernel dropped because the socket's
	// receive buffer was full (Linux: SO_RXQ_OVFL), before radmfa saw them.
	DropKernel = "kernel_buffer_full"
	// DropBadAcctAuth: an Accounting-Request whose Request Authenticator
	// does not verify with the client's secret.
	DropBadAcctAuth = "bad_accounting_authenticator"
	// DropAcctNotRecorded: an Accounting-Request that could not be
	// recorded (invalid, or the store failed); the NAS resends it.
	DropAcctNotRecorded = "accounting_not_recorded"
	// DropWrongPort: an Accounting-Request on the authentication port or
	// an Access-Request on the accounting port.
	DropWrongPort = "wrong_port"
	// DropTLSHandshake: a RadSec connection whose TLS handshake failed
	// (no client certificate, or one not issued by the NAS CA).
	DropTLSHandshake = "tls_handshake_failed"
)

// Metrics are the listener's Prometheus metrics.
type Metrics struct {
	Requests   *prometheus.CounterVec
	Responses  *prometheus.CounterVec
	Decisions  *prometheus.CounterVec
	Drops      *prometheus.CounterVec
	Duplicates *prometheus.CounterVec
	Latency    prometheus.Histogram
	InFlight   prometheus.Gauge
	Held       prometheus.Gauge
	Clients    prometheus.Gauge
	// WithoutMA counts, per client, the Access-Requests that came without
	// Message-Authenticator: which NAS would break if it were required.
	WithoutMA *prometheus.CounterVec
}

// NewMetrics makes the metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		WithoutMA: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "radmfa_radius_requests_without_message_authenticator_total",
			Help: "Access-Requests without Message-Authenticator, by client: the NAS that would break if the client required it (BlastRADIUS, CVE-2024-3596).",
		}, []string{"client"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "radmfa_radius_requests_total", Help: "RADIUS packets received, by code.",
		}, []string{"code"}),
		Responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "radmfa_radius_responses_total", Help: "RADIUS replies handed to the socket (not counting cached resends), by code; a send the kernel refuses later counts in radmfa_radius_drops_total{reason=\"send_failed\"}.",
		}, []string{"code"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "radmfa_auth_decisions_total", Help: "Authentication decisions, by decision and reason.",
		}, []string{"decision", "reason"}),
		Drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "radmfa_radius_drops_total", Help: "RADIUS packets dropped without a reply, by reason.",
		}, []string{"reason"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "radmfa_radius_duplicates_total", Help: "Retransmitted requests: dropped while in flight, or answered from the reply cache.",
		}, []string{"kind"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "radmfa_radius_request_duration_seconds", Help: "Time from reading an Access-Request to sending its reply.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "radmfa_radius_in_flight", Help: "Access-Requests being evaluated.",
		}),
		Held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "radmfa_radius_held", Help: "Access-Requests held open waiting for a push answer.",
		}),
		Clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "radmfa_radius_clients", Help: "RADIUS clients configured.",
		}),
	}
	m.initLabels()
	if reg != nil {
		reg.MustRegister(m.Requests, m.Responses, m.Decisions, m.Drops, m.Duplicates, m.Latency, m.InFlight, m.Held, m.Clients, m.WithoutMA)
	}
	return m
}

// initLabels creates the label values that are known in advance at 0, so
// that dashboards and alerts (rate() of a drop reason, say) work from the
// start rather than from a series' first event.
func (m *Metrics) initLabels() {
	for _, code := range []string{"access_request", "accounting_request", "status_server", "other"} {
		m.Requests.WithLabelValues(code)
	}
	for _, code := range []string{"accept", "reject", "challenge", "status_server", "accounting_response"} {
		m.Responses.WithLabelValues(code)
	}
	for _, r := range []string{DropMalformed, DropUnknownClient, DropUnsupportedCode, DropBadMA, DropMissingMA, DropProxyStateNoMA,
		DropOverloaded, DropShutdown, DropSendFailed, DropKernel, DropBadAcctAuth, DropAcctNotRecorded, DropWrongPort, DropTLSHandshake} {
		m.Drops.WithLabelValues(r)
	}
	for _, k := range []string{"in_flight", "answered"} {
		m.Duplicates.WithLabelValues(k)
	}
	m.Decisions.WithLabelValues(auth.Accept.String(), auth.ReasonOK)
	m.Decisions.WithLabelValues(auth.Accept.String(), auth.ReasonPushApproved)
	m.Decisions.WithLabelValues(auth.Accept.String(), auth.ReasonRetransmitted)
	m.Decisions.WithLabelValues(auth.Accept.String(), auth.ReasonPushApprovedLate)
	for _, r := range []string{auth.ReasonUnknownUser, auth.ReasonUserDisabled, auth.ReasonNoToken, auth.ReasonLocked,
		auth.ReasonExpired, auth.ReasonBadCode, auth.ReasonBadPIN, auth.ReasonWrongLength, auth.ReasonClockSkew, auth.ReasonReplay, auth.ReasonRateLimited,
		auth.ReasonOverloaded, auth.ReasonInternal, auth.ReasonNoUserName, auth.ReasonUnsupportedMethod,
		auth.ReasonPushDenied, auth.ReasonPushFraud, auth.ReasonPushTimeout, auth.ReasonPushPending} {
		m.Decisions.WithLabelValues(auth.Reject.String(), r)
	}
}
