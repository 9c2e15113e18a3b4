package binance

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hama-operator/hama-operator/internal/market"
)

// tickerRow is one element of GET /api/v3/ticker/24hr (or /fapi/v1/ticker/24hr) without a symbol:
// prices and volumes as decimal strings, times as integer milliseconds. Fields the operator does
// not use (bid, ask, weightedAvgPrice, trade ids ...) are ignored.
type tickerRow struct {
	Symbol             string `json:"symbol"`
	PriceChange        string `json:"priceChange"`
	PriceChangePercent string `json:"priceChangePercent"`
	LastPrice          string `json:"lastPrice"`
	HighPrice          string `json:"highPrice"`
	LowPrice           string `json:"lowPrice"`
	Volume             string `json:"volume"`
	QuoteVolume        string `json:"quoteVolume"`
	OpenTime           int64  `json:"openTime"`
	CloseTime          int64  `json:"closeTime"`
	Count              int64  `json:"count"`
}

// DecodeTickers parses the 24hr ticker of all symbols. A row whose numbers do not parse fails the
// whole answer: it means the body is not what Binance documents.
func DecodeTickers(body []byte) ([]market.Ticker, error) {
	var rows []tickerRow
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, &market.BadResponseError{Detail: "24hr ticker: " + err.Error()}
	}
	out := make([]market.Ticker, len(rows))
	for i, r := range rows {
		if r.Symbol == "" {
			return nil, &market.BadResponseError{Detail: fmt.Sprintf("24hr ticker row %d has no symbol", i)}
		}
		t := market.Ticker{Symbol: r.Symbol, Trades: r.Count,
			OpenTime: time.UnixMilli(r.OpenTime).UTC(), CloseTime: time.UnixMilli(r.CloseTime).UTC()}
		for _, f := range []struct {
			name string
			raw  string
			dst  *float64
		}{
			{"priceChange", r.PriceChange, &t.PriceChange},
			{"priceChangePercent", r.PriceChangePercent, &t.PriceChangePercent},
			{"lastPrice", r.LastPrice, &t.LastPrice},
			{"highPrice", r.HighPrice, &t.HighPrice},
			{"lowPrice", r.LowPrice, &t.LowPrice},
			{"volume", r.Volume, &t.Volume},
			{"quoteVolume", r.QuoteVolume, &t.QuoteVolume},
		} {
			v, err := strconv.ParseFloat(f.raw, 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, &market.BadResponseError{Detail: fmt.Sprintf("24hr ticker %s: %s %q is not a decimal string", r.Symbol, f.name, f.raw)}
			}
			*f.dst = v
		}
		out[i] = t
	}
	return out, nil
}
