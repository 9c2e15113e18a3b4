package dispatch

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/hama-operator/hama-operator/internal/notify"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// Alert is a SignalAlert as delivery sees it: which events it takes, and where they go.
type Alert struct {
	Namespace, Name string
	// Provider is the receiver's type (notify.Webhook, ...), for metrics.
	Provider string
	// Events are the kinds it takes; Symbols and Timeframes filter when not empty.
	Events, Symbols, Timeframes []string
	// Cooldown is the least time between two deliveries of the same symbol, timeframe and kind.
	Cooldown time.Duration
	// Schedules are the schedules the alert selects, all in its namespace, and Covered every symbol
	// they analyse.
	Schedules, Covered []string
}

// Key names the alert in delivery records.
func (a Alert) Key() string { return a.Namespace + "/" + a.Name }

// Matches reports whether the alert takes e: e was found for one of its schedules or for a symbol
// one of them covers, and it passes the alert's kind, symbol and timeframe filters.
func (a Alert) Matches(e signals.Event) bool {
	fromSchedule := e.Namespace == a.Namespace && e.Schedule != "" && slices.Contains(a.Schedules, e.Schedule)
	if !fromSchedule && !slices.Contains(a.Covered, e.Symbol) {
		return false
	}
	return slices.Contains(a.Events, string(e.Kind)) &&
		(len(a.Symbols) == 0 || slices.Contains(a.Symbols, e.Symbol)) &&
		(len(a.Timeframes) == 0 || slices.Contains(a.Timeframes, e.Timeframe))
}

// ErrNoAlert says an alert was deleted or suspended: its pending deliveries are dropped.
var ErrNoAlert = errors.New("the alert no longer exists or is suspended")

// Receiver is where an alert delivers, resolved from its Secret at each attempt (so a rotated
// Secret applies at once).
type Receiver struct {
	Target  notify.Target
	Timeout time.Duration
}

// Alerts is the cluster's side: the controllers package implements it from its informer cache.
type Alerts interface {
	// Active lists the alerts that are not suspended.
	Active(ctx context.Context) ([]Alert, error)
	// Receiver resolves one alert's receiver; an error wrapping ErrNoAlert drops the delivery, any
	// other (a missing Secret, say) is retried like an unreachable receiver.
	Receiver(ctx context.Context, namespace, name string) (Receiver, error)
}
