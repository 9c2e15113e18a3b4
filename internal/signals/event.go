// Package signals finds the signal events of an analysis write — a new cross of the HAMA close over
// the MA line (up or down), a HAMA colour flip, the start or end of a Bollinger squeeze — and keeps
// their history in the Redis Stream hama:signals, once per event, with a bounded memory fallback
// while Redis is down. It imports nothing from Kubernetes.
//
// Readers of the stream (the notifications, the board): each entry of StreamKey is one Event with
// the fields id, symbol, timeframe, kind, candle_close_time (RFC3339), price, summary, color,
// namespace and schedule; DecodeEntry turns a go-redis XMessage into an Event (its StreamID and
// RecordedAt come from the entry id). Event.ID is stable across replicas and restarts, so it keys
// anything a consumer records per event. An event is appended once: the Log checks and sets
// DedupKey(id) and appends in one Lua script, so a second append of the same ID (another replica,
// a restart, a memory copy after an outage) leaves the stream unchanged.
package signals

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kind is what happened.
type Kind string

// Kinds of events.
const (
	CrossUp      Kind = "crossUp"
	CrossDown    Kind = "crossDown"
	ColorFlip    Kind = "colorFlip"
	SqueezeStart Kind = "squeezeStart"
	SqueezeEnd   Kind = "squeezeEnd"
)

// Kinds lists every Kind.
var Kinds = []Kind{CrossUp, CrossDown, ColorFlip, SqueezeStart, SqueezeEnd}

// ParseKind checks a kind's name.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); slices.Contains(Kinds, k) {
		return k, nil
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("kind %q is not one of %s", s, strings.Join(names, ", "))
}

// Event is one signal of one symbol-timeframe at one candle.
type Event struct {
	// ID is "<SYMBOL>:<TF>:<kind>:<candle close unix ms>": the same event has the same ID wherever
	// and however often it is found.
	ID string `json:"id"`
	// StreamID is the stream entry's id; "" while the event waits in the memory fallback.
	StreamID  string `json:"stream_id"`
	Symbol    string `json:"symbol"`
	Timeframe string `json:"timeframe"`
	Kind      Kind   `json:"kind"`
	// CandleCloseTime is the close of the candle the event happened on.
	CandleCloseTime time.Time `json:"candle_close_time"`
	// Price is that candle's close.
	Price float64 `json:"price"`
	// Summary (bullish, bearish, neutral) and Color (green, red) are the state after the event: at
	// the last candle of the analysis that found it.
	Summary string `json:"summary"`
	Color   string `json:"color"`
	// Namespace and Schedule name the schedule whose refresh found it; "" for an on-demand analysis.
	Namespace string `json:"namespace"`
	Schedule  string `json:"schedule"`
	// RecordedAt is when the stream took it (the entry id's time), or when memory did.
	RecordedAt time.Time `json:"recorded_at"`
}

// EventID is the stable ID of an event.
func EventID(symbol, timeframe string, kind Kind, candleClose time.Time) string {
	return fmt.Sprintf("%s:%s:%s:%d", symbol, timeframe, kind, candleClose.UnixMilli())
}

// StreamKey is the Redis Stream of the events.
const StreamKey = "hama:signals"

// DedupKey marks an event ID as appended. The braces put it in StreamKey's hash slot, so that one
// script can check it and append, on Redis Cluster too.
func DedupKey(id string) string { return "{" + StreamKey + "}:seen:" + id }

// values are the stream entry's fields, in the documented order.
func (e Event) values() []any {
	return []any{
		"id", e.ID, "symbol", e.Symbol, "timeframe", e.Timeframe, "kind", string(e.Kind),
		"candle_close_time", e.CandleCloseTime.UTC().Format(time.RFC3339Nano), // keeps the close's .999
		"price", strconv.FormatFloat(e.Price, 'f', -1, 64), "summary", e.Summary, "color", e.Color,
		"namespace", e.Namespace, "schedule", e.Schedule,
	}
}

// DecodeEntry reads a stream entry of StreamKey.
func DecodeEntry(m redis.XMessage) (Event, error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	e := Event{ID: str("id"), StreamID: m.ID, Symbol: str("symbol"), Timeframe: str("timeframe"), Kind: Kind(str("kind")),
		Summary: str("summary"), Color: str("color"), Namespace: str("namespace"), Schedule: str("schedule")}
	var err error
	if e.CandleCloseTime, err = time.Parse(time.RFC3339, str("candle_close_time")); err != nil {
		return Event{}, fmt.Errorf("stream entry %s: candle_close_time: %w", m.ID, err)
	}
	if e.Price, err = strconv.ParseFloat(str("price"), 64); err != nil {
		return Event{}, fmt.Errorf("stream entry %s: price: %w", m.ID, err)
	}
	ms, _, _ := strings.Cut(m.ID, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("stream entry id %q: %w", m.ID, err)
	}
	e.RecordedAt = time.UnixMilli(n).UTC()
	if e.ID == "" {
		return Event{}, fmt.Errorf("stream entry %s has no id field", m.ID)
	}
	return e, nil
}
