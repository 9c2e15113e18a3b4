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

// indicators computes the classic indicators at the last bar from the series of an analysis, in
// one pass: their recurrences are independent, so the processor runs them side by side.
func indicators(s *series, candles []market.Candle) Indicators {
	var (
		rsiS                 = newRSI(rsiLength)
		macdS                = newMACD(macdFast, macdSlow, macdSignal)
		short, long          = emaSmoother(emaShort), emaSmoother(emaLong)
		r, line, sig, e1, e2 float64
	)
	for _, v := range s.close {
		r = rsiS.next(v)
		line, sig = macdS.next(v)
		e1, e2 = short.next(v), long.next(v)
	}
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
