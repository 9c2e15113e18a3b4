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

// Intervals are the kline intervals Binance accepts, shortest first.
var Intervals = []string{"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"}

// ValidInterval reports whether s is one of Intervals.
func ValidInterval(s string) bool { return slices.Contains(Intervals, s) }
