// Package notify renders a signal notification for one receiver and sends it once: a generic JSON
// webhook (optionally signed with HMAC-SHA256), Slack and Discord incoming webhooks, and email.
// It knows nothing of Kubernetes, of matching or of retries: Send makes one attempt and says,
// through *Error, whether another attempt may succeed.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Provider types, as SignalAlert's spec.provider.type names them.
const (
	Webhook = "webhook"
	Slack   = "slack"
	Discord = "discord"
	Email   = "email"
)

// Event kinds a Message may carry (internal/signals' kinds).
const (
	crossUp      = "crossUp"
	crossDown    = "crossDown"
	colorFlip    = "colorFlip"
	squeezeStart = "squeezeStart"
	squeezeEnd   = "squeezeEnd"
)

// Message is one signal event addressed by one alert; every provider renders it. Its JSON is the
// generic webhook's body.
type Message struct {
	// ID is the event's stable id, the same on every retry: receivers deduplicate with it.
	ID              string    `json:"id"`
	Alert           string    `json:"alert"`
	Namespace       string    `json:"namespace"`
	Schedule        string    `json:"schedule"`
	Symbol          string    `json:"symbol"`
	Timeframe       string    `json:"timeframe"`
	Event           string    `json:"event"`
	CandleCloseTime time.Time `json:"candle_close_time"`
	Price           float64   `json:"price"`
	Summary         string    `json:"summary"`
	Color           string    `json:"color"`
}

// Title is the one-line summary every provider leads with, like "BTCUSDT 15m: HAMA crossed above its MA".
func (m Message) Title() string {
	what := map[string]string{
		crossUp:      "HAMA crossed above its MA",
		crossDown:    "HAMA crossed below its MA",
		colorFlip:    "HAMA candles turned " + m.Color,
		squeezeStart: "Bollinger squeeze started",
		squeezeEnd:   "Bollinger squeeze ended",
	}[m.Event]
	if what == "" {
		what = m.Event
	}
	return fmt.Sprintf("%s %s: %s", m.Symbol, m.Timeframe, what)
}

// fields are the facts every provider lists under the title, in this order.
func (m Message) fields() [][2]string {
	return [][2]string{
		{"Price", strconv.FormatFloat(m.Price, 'f', -1, 64)},
		{"Summary", m.Summary},
		{"Candle close", m.CandleCloseTime.UTC().Format(time.RFC3339)},
		{"Schedule", m.Namespace + "/" + m.Schedule},
		{"Alert", m.Alert},
		{"Event id", m.ID},
	}
}

// Target is a receiver: the provider type and what its Secret holds.
type Target struct {
	Type    string
	Address string
	// Token is sent as "Authorization: Bearer <token>" by the HTTP providers.
	Token string
	// HMACKey signs webhook bodies: X-Hama-Signature: sha256=<hex HMAC-SHA256 of the body>.
	HMACKey []byte
	// Email only.
	Username, Password, From string
	To                       []string
}

// Error is a failed attempt. Retryable tells whether the same message may be accepted later:
// timeouts, refused connections, HTTP 408, 429 and 5xx, SMTP 4xx. RetryAfter is the receiver's
// Retry-After, zero when it sent none.
type Error struct {
	Retryable  bool
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether err allows another attempt, and the wait the receiver asked for.
// Errors that are not *Error are retryable: only a receiver's explicit refusal is final.
func Retryable(err error) (bool, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable, e.RetryAfter
	}
	return true, 0
}

// Sender sends messages; its zero value is ready to use.
type Sender struct {
	// HTTP sends the webhook, Slack and Discord requests; nil means a client with no timeout of its
	// own (the context passed to Send bounds every attempt).
	HTTP HTTPDoer
}

// Send makes one delivery attempt of m to t.
func (s *Sender) Send(ctx context.Context, t Target, m Message) error {
	switch t.Type {
	case Webhook:
		return s.webhook(ctx, t, m)
	case Slack:
		return s.slack(ctx, t, m)
	case Discord:
		return s.discord(ctx, t, m)
	case Email:
		return sendEmail(ctx, t, m)
	}
	return &Error{Err: fmt.Errorf("unknown provider type %q", t.Type)}
}
