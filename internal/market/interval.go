package market

import "time"

// intervalDurations are the fixed-length intervals; "1M" (a calendar month) is not among them.
var intervalDurations = map[string]time.Duration{
	"1m": time.Minute, "3m": 3 * time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
	"30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour, "4h": 4 * time.Hour, "6h": 6 * time.Hour,
	"8h": 8 * time.Hour, "12h": 12 * time.Hour, "1d": 24 * time.Hour, "3d": 72 * time.Hour, "1w": 7 * 24 * time.Hour,
}

// NextOpen is the open time of the candle after the one that opened at open: open plus the
// interval, or one calendar month later for "1M", as the exchange's months are calendar months.
func NextOpen(interval string, open time.Time) time.Time {
	if interval == "1M" {
		return open.AddDate(0, 1, 0)
	}
	return open.Add(intervalDurations[interval])
}
