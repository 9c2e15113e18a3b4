// Package market defines the candle type and the Source interface shared by the exchange
// clients (binance, simulated) and the analysis engine. It imports nothing from Kubernetes.
package market

import (
	"context"
	"slices"
	"time"
)

// Candle is one OHLCV bar. Times are UTC; CloseTime is the last millisecond of the bar,
// as Binance reports it.
type Candle struct {
	OpenTime  time.Time
	CloseTime time.Time
	Open      float64
	High      float64
	Low       float64
	Close     float64
	Volume    float64
}

// Exchange names: what Source.Name returns, and what AnalysisSchedules (spec.source.exchange, whose
// enum api/v1alpha1 spells out for the CRD) and --default-exchange accept.
const (
	Binance        = "binance"
	BinanceFutures = "binance-futures"
	Simulated      = "simulated"
)

// Exchanges lists the exchange names.
var Exchanges = []string{Binance, BinanceFutures, Simulated}

// Source returns candles for a symbol and interval.
type Source interface {
	// Name identifies the source in every result: one of Exchanges.
	Name() string
	// Klines returns up to limit closed candles, oldest first.
	Klines(ctx context.Context, symbol, interval string, limit int) ([]Candle, error)
}

// Ticker is one symbol's rolling 24-hour statistics, as the exchange's 24hr ticker reports them.
type Ticker struct {
	Symbol string `json:"symbol"`
	// LastPrice is the latest trade's price; PriceChange and PriceChangePercent compare it with the
	// price 24 hours earlier.
	LastPrice          float64 `json:"lastPrice"`
	PriceChange        float64 `json:"priceChange"`
	PriceChangePercent float64 `json:"priceChangePercent"`
	HighPrice          float64 `json:"highPrice"`
	LowPrice           float64 `json:"lowPrice"`
	// Volume is in the base asset, QuoteVolume in the quote asset (USDT for BTCUSDT).
	Volume      float64   `json:"volume"`
	QuoteVolume float64   `json:"quoteVolume"`
	OpenTime    time.Time `json:"openTime"`
	CloseTime   time.Time `json:"closeTime"`
	// Trades in the window; 0 for a pair that no longer trades.
	Trades int64 `json:"count"`
}

// TickerSource lists the 24-hour tickers of every symbol of a market in one call.
type TickerSource interface {
	Tickers(ctx context.Context) ([]Ticker, error)
}

// Intervals are the kline intervals Binance accepts, shortest first.
var Intervals = []string{"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"}

// ValidInterval reports whether s is one of Intervals.
func ValidInterval(s string) bool { return slices.Contains(Intervals, s) }
