// Package simulated is a deterministic, offline market: candles for any symbol and interval (and
// 24-hour tickers for a fixed listing, made of those candles),
// computed from the symbol's name and the candle's place on the time grid. Demos, local runs and
// load tests use it; every result it feeds says source "simulated".
package simulated

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"k8s.io/utils/clock"

	"github.com/hama-operator/hama-operator/internal/market"
)

// Source is a simulated exchange.
type Source struct {
	clock clock.PassiveClock
}

var (
	_ market.Source       = (*Source)(nil)
	_ market.TickerSource = (*Source)(nil)
)

// Option configures a Source.
type Option func(*Source)

// WithClock replaces the wall clock, for tests.
func WithClock(c clock.PassiveClock) Option { return func(s *Source) { s.clock = c } }

// New returns a simulated exchange.
func New(opts ...Option) *Source {
	s := &Source{clock: clock.RealClock{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name is market.Simulated.
func (s *Source) Name() string { return market.Simulated }

// intervalLength is the grid step; a month is taken as 30 days.
func intervalLength(interval string) (time.Duration, error) {
	if !market.ValidInterval(interval) {
		return 0, &market.APIError{Status: 400, Code: -1120, Msg: "Invalid interval " + interval}
	}
	if interval == "1M" {
		return 30 * 24 * time.Hour, nil
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	var n int
	_, _ = fmt.Sscanf(interval[:len(interval)-1], "%d", &n)
	return time.Duration(n) * unit[interval[len(interval)-1]], nil
}

// Klines returns the limit candles that closed last before now, oldest first. A candle depends only
// on (symbol, interval, its open time), so overlapping windows agree and repeated calls are equal.
func (s *Source) Klines(ctx context.Context, symbol, interval string, limit int) ([]market.Candle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	step, err := intervalLength(interval)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	w := newWalk(symbol)
	lastOpen := s.clock.Now().UTC().Truncate(step).Add(-step) // the newest fully closed candle
	candles := make([]market.Candle, limit)
	for i := range candles {
		openTime := lastOpen.Add(-time.Duration(limit-1-i) * step)
		k := floorDiv(openTime.UnixMilli(), step.Milliseconds()) // monthly grids reach before 1970
		open, close := w.price(k), w.price(k+1)
		high := math.Max(open, close) * (1 + 0.004*w.noise(k, 1))
		low := math.Min(open, close) * (1 - 0.004*w.noise(k, 2))
		candles[i] = market.Candle{
			OpenTime: openTime, CloseTime: openTime.Add(step - time.Millisecond),
			Open: round8(open), High: round8(high), Low: round8(low), Close: round8(close),
			Volume: round8(100 + 900*w.noise(k, 3)),
		}
	}
	return candles, nil
}

// walk is a symbol's price path: a base level, two slow cycles (so crosses and trends happen) and
// hashed noise, all functions of the candle index so any window costs O(limit).
type walk struct {
	seed   uint64
	base   float64
	phase1 float64
	phase2 float64
	period float64
}

func newWalk(symbol string) walk {
	h := fnv.New64a()
	_, _ = h.Write([]byte(symbol))
	seed := h.Sum64()
	return walk{
		seed:   seed,
		base:   math.Pow(10, float64(seed%700)/100-2), // 0.01 … 1e5, like real markets
		phase1: float64(seed>>8%628) / 100,
		phase2: float64(seed>>20%628) / 100,
		period: 60 + float64(seed>>32%120),
	}
}

func (w walk) price(k int64) float64 {
	x := float64(k)
	swing := 0.06*math.Sin(x/w.period+w.phase1) + 0.02*math.Sin(x/(w.period/4.7)+w.phase2)
	return w.base * math.Exp(swing+0.004*(w.noise(k, 0)-0.5))
}

// noise is a uniform number in [0,1) from the candle index and a stream number (splitmix64).
func (w walk) noise(k int64, stream uint64) float64 {
	z := w.seed ^ uint64(k)*0x9E3779B97F4A7C15 ^ stream*0xBF58476D1CE4E5B9
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func round8(v float64) float64 { return math.Round(v*1e8) / 1e8 }

// Symbols is the simulated market's listing: USDT pairs, a few BTC pairs, two leveraged tokens and a
// pair that no longer trades, so that every filter of a gainers list has something to remove.
var Symbols = []string{
	"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT", "DOTUSDT",
	"LINKUSDT", "MATICUSDT", "LTCUSDT", "TRXUSDT", "ATOMUSDT", "UNIUSDT", "NEARUSDT", "APTUSDT", "ARBUSDT",
	"OPUSDT", "SUIUSDT", "INJUSDT", "FILUSDT", "ETCUSDT", "AAVEUSDT", "JUPUSDT", "PEPEUSDT", "WIFUSDT",
	"ETHBTC", "BNBBTC", "SOLBTC", "BTCUPUSDT", "BTCDOWNUSDT", DelistedSymbol,
}

// DelistedSymbol is listed with a ticker of no trades, as exchanges keep halted pairs.
const DelistedSymbol = "LUNAUSDT"

// Tickers returns the 24-hour statistics of every listed symbol, made of its last 24 hourly candles
// so they agree with Klines: the same prices at the same times.
func (s *Source) Tickers(ctx context.Context) ([]market.Ticker, error) {
	out := make([]market.Ticker, 0, len(Symbols))
	for _, sym := range Symbols {
		candles, err := s.Klines(ctx, sym, "1h", 24)
		if err != nil {
			return nil, err
		}
		first, last := candles[0], candles[len(candles)-1]
		t := market.Ticker{Symbol: sym, LastPrice: last.Close, HighPrice: first.High, LowPrice: first.Low,
			OpenTime: first.OpenTime, CloseTime: last.CloseTime}
		if sym == DelistedSymbol {
			out = append(out, market.Ticker{Symbol: sym, LastPrice: first.Open, HighPrice: first.Open, LowPrice: first.Open,
				OpenTime: first.OpenTime, CloseTime: last.CloseTime})
			continue
		}
		for _, c := range candles {
			t.HighPrice, t.LowPrice = math.Max(t.HighPrice, c.High), math.Min(t.LowPrice, c.Low)
			t.Volume += c.Volume
			t.QuoteVolume += c.Volume * c.Close
			t.Trades += int64(10 + c.Volume)
		}
		t.PriceChange = round8(last.Close - first.Open)
		t.PriceChangePercent = math.Round((last.Close/first.Open-1)*100_000) / 1000 // 3 decimals, as Binance
		t.Volume, t.QuoteVolume = round8(t.Volume), round8(t.QuoteVolume)
		out = append(out, t)
	}
	return out, nil
}
