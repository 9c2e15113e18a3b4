package analysis

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/hama-operator/hama-operator/internal/hama"
)

// ChartBars is how many bars a chart keeps: what a candlestick chart shows at once.
const ChartBars = 200

// Chart is the cached value of hama:series:<SYMBOL>:<TF>: the last bars of one timeframe of a
// symbol, from the analysis that wrote the same timeframe of the document. Its JSON form is the
// series route's answer (docs/api.md).
type Chart struct {
	Symbol          string    `json:"symbol"`
	Timeframe       string    `json:"timeframe"`
	CandleCloseTime time.Time `json:"candle_close_time"`
	ComputedAt      time.Time `json:"computed_at"`
	// ExpiresAt is the expiry of the analysis the chart came with; the key's TTL ends there.
	ExpiresAt time.Time `json:"-"`
	hama.Series
}

// ChartOf is the chart of one timeframe of a fresh document; false when the analysis computed no
// series for it.
func ChartOf(doc Document, tf string) (Chart, bool) {
	s, ok := doc.Series[tf]
	r, analysed := doc.Timeframes[tf]
	if !ok || !analysed {
		return Chart{}, false
	}
	return Chart{Symbol: doc.Symbol, Timeframe: tf, CandleCloseTime: r.CandleCloseTime, ComputedAt: r.ComputedAt,
		ExpiresAt: r.ExpiresAt, Series: s}, true
}

// MergeChart is the chart to keep when fresh meets the cached one: the same rule as Merge for a
// timeframe, the newer candle wins, then the newer computation.
func MergeChart(cached, fresh Chart) Chart {
	if newer(hama.Result{CandleCloseTime: cached.CandleCloseTime, ComputedAt: cached.ComputedAt},
		hama.Result{CandleCloseTime: fresh.CandleCloseTime, ComputedAt: fresh.ComputedAt}) {
		return cached
	}
	return fresh
}

// EncodeChart is the cached form: gob, about 60 % of the JSON's size (a float is at most nine
// bytes, and NaN needs no special case).
func EncodeChart(c Chart) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(c); err != nil {
		return nil, fmt.Errorf("encoding the chart of %s %s: %w", c.Symbol, c.Timeframe, err)
	}
	return b.Bytes(), nil
}

// DecodeChart reads a cached chart.
func DecodeChart(b []byte) (Chart, error) {
	var c Chart
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		return Chart{}, fmt.Errorf("decoding a cached chart: %w", err)
	}
	return c, nil
}
