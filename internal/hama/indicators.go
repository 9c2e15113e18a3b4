package hama

import (
	"math"

	"github.com/hama-operator/hama-operator/internal/market"
)

// Lengths of the classic indicators: TradingView's defaults, and the 20-bar windows the original
// Python service used for its support, resistance and volume checks.
const (
	rsiLength    = 14
	macdFast     = 12
	macdSlow     = 26
	macdSignal   = 9
	emaShort     = 20
	emaLong      = 50
	levelsLength = 20
	volumeLength = 20
)

// indicators computes the classic indicators at the last bar from the series of an analysis.
func indicators(s *series, candles []market.Candle) Indicators {
	r, line, sig, e1, e2 := recurrences(s.close)
	return Indicators{
		RSI:   value(r),
		MACD:  MACD{Line: value(line), Signal: value(sig), Histogram: value(line - sig)},
		EMA20: value(e1), EMA50: value(e2),
		// SourceHigh / SourceLow are high and low, widened to the close on a malformed candle.
		SupportLevel:    value(lowestAt(s.srcLow, levelsLength)),
		ResistanceLevel: value(highestAt(s.srcHigh, levelsLength)),
		VolumeRatio:     value(volumeRatio(candles, volumeLength)),
		CandlePattern:   candlePattern(candles),
	}
}

// recurrences runs RSI(14), MACD(12, 26, 9), EMA(20) and EMA(50) over close, which holds no na
// (Analyze checked every candle), and returns their values at the last bar. The one-bar-at-a-time
// states take the bars where the recurrences seed (EMA(50), the last, at bar 49); the rest of the
// series runs the same recurrences on plain variables in one loop, so that the processor overlaps
// the seven chains instead of walking the series once per chain.
func recurrences(close []float64) (rsi, line, signal, ema20, ema50 float64) {
	var (
		r           = newRSI(rsiLength)
		m           = newMACD(macdFast, macdSlow, macdSignal)
		short, long = emaSmoother(emaShort), emaSmoother(emaLong)
	)
	seeded := min(len(close), emaLong)
	for _, v := range close[:seeded] {
		rsi = r.next(v)
		line, signal = m.next(v)
		ema20, ema50 = short.next(v), long.next(v)
	}
	up, down, prev := r.up.value, r.down.value, r.prev
	fast, slow := m.fast.value, m.slow.value
	for _, v := range close[seeded:] {
		change := v - prev
		prev = v
		up = r.up.alpha*max(change, 0) + r.up.beta*up
		down = r.down.alpha*-min(change, 0) + r.down.beta*down
		fast = m.fast.alpha*v + m.fast.beta*fast
		slow = m.slow.alpha*v + m.slow.beta*slow
		line = fast - slow
		signal = m.signal.alpha*line + m.signal.beta*signal
		ema20 = short.alpha*v + short.beta*ema20
		ema50 = long.alpha*v + long.beta*ema50
	}
	if len(close) > seeded {
		rsi = rsiOf(up, down)
	}
	return rsi, line, signal, ema20, ema50
}

// value is v for the JSON, nil (null) when it is na or infinite.
func value(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// volumeRatio is the last volume over the mean of the last n volumes (the last one included).
func volumeRatio(candles []market.Candle, n int) float64 {
	if len(candles) < n {
		return na
	}
	var sum float64
	for _, c := range candles[len(candles)-n:] {
		sum += c.Volume
	}
	return candles[len(candles)-1].Volume / (sum / float64(n))
}

// candlePattern classifies the last candle against the one before with the original Python
// service's rules: a body of zero is a doji; a lower wick over twice the body with an upper wick
// under half of it a hammer, the mirror a shooting star; a rising candle whose body swallows a
// falling one's a bullish engulfing, the mirror a bearish engulfing.
func candlePattern(candles []market.Candle) string {
	if len(candles) < 2 {
		return PatternNone
	}
	cur, prev := candles[len(candles)-1], candles[len(candles)-2]
	body := math.Abs(cur.Close - cur.Open)
	lowerWick := math.Min(cur.Open, cur.Close) - cur.Low
	upperWick := cur.High - math.Max(cur.Open, cur.Close)
	switch {
	case body == 0:
		return PatternDoji
	case lowerWick > 2*body && upperWick < body/2:
		return PatternHammer
	case upperWick > 2*body && lowerWick < body/2:
		return PatternShootingStar
	case cur.Close > cur.Open && prev.Close < prev.Open && cur.Close > prev.Open && cur.Open < prev.Close:
		return PatternBullishEngulfing
	case cur.Close < cur.Open && prev.Close > prev.Open && cur.Close < prev.Open && cur.Open > prev.Close:
		return PatternBearishEngulfing
	}
	return PatternNone
}
