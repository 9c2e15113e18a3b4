package market

import (
	"testing"
	"time"
)

func TestNextOpen(t *testing.T) {
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		interval string
		open     time.Time
		want     time.Time
	}{
		{"1m", jan, jan.Add(time.Minute)},
		{"15m", jan, jan.Add(15 * time.Minute)},
		{"1w", jan, jan.Add(7 * 24 * time.Hour)},
		{"1M", jan, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"1M", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if got := NextOpen(c.interval, c.open); !got.Equal(c.want) {
			t.Errorf("NextOpen(%s, %s) = %s, want %s", c.interval, c.open, got, c.want)
		}
	}
	for _, iv := range Intervals {
		if iv != "1M" && intervalDurations[iv] == 0 {
			t.Errorf("interval %s has no duration", iv)
		}
	}
}
