package dispatch

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// TODO(signals): replace with internal/signals (Event, StreamKey, DecodeEntry) once it lands.

// Event is a signal event as the signal history records it.
type Event struct {
	ID              string    `json:"id"`
	StreamID        string    `json:"stream_id"`
	Symbol          string    `json:"symbol"`
	Timeframe       string    `json:"timeframe"`
	Kind            string    `json:"kind"`
	CandleCloseTime time.Time `json:"candle_close_time"`
	Price           float64   `json:"price"`
	Summary         string    `json:"summary"`
	Color           string    `json:"color"`
	Namespace       string    `json:"namespace"`
	Schedule        string    `json:"schedule"`
	RecordedAt      time.Time `json:"recorded_at"`
}

// StreamKey is the signal history.
const StreamKey = "hama:signals"

func decodeEntry(m redis.XMessage) (Event, error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	e := Event{ID: str("id"), StreamID: m.ID, Symbol: str("symbol"), Timeframe: str("timeframe"), Kind: str("kind"),
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
